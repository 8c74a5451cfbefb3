"""Supplier recharge with failover, against suppliers played by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.bootstrap import Service, bootstrap
from faka_common.breakers import close_breakers
from faka_common.contracts.delivery import RechargeRequested

from .conftest import SECRET, SupplierServer, closed_port_url, eventually, feed, outbox, settings_for

pytestmark = pytest.mark.integration


async def register(
    api: httpx.AsyncClient,
    product_id: UUID,
    name: str,
    base_url: str,
    priority: int,
    cost: int = 4900,
    kind: str = "http_json",
    timeout: float = 2.0,
) -> str:
    config = {"merchant_id": "agent-7"} if kind == "platform" else {"merchant_id": "m-1"}
    created = await api.post(
        "/internal/suppliers",
        json={"name": name, "kind": kind, "base_url": base_url, "secret": SECRET, "config": config,
              "timeout_seconds": timeout},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert "secret" not in created.json()
    supplier_id: str = created.json()["supplier_id"]
    routed = await api.put(
        f"/internal/products/{product_id}/routes/{supplier_id}",
        json={"supplier_sku": "mobile-50", "priority": priority, "cost": cost},
    )
    assert routed.status_code == 200, routed.text
    return supplier_id


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


def recharge(order_id: UUID, product_id: UUID) -> RechargeRequested:
    return RechargeRequested(order_id=order_id, product_id=product_id, account="13800138000", amount=5000)


async def drain(service: Service) -> None:
    """Run the recharge worker until nothing is due."""
    while await service.worker.run_once():
        pass


async def delivery(api: httpx.AsyncClient, order_id: UUID) -> dict:  # type: ignore[type-arg]
    response = await api.get(f"/internal/deliveries/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def types(messages: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [m["type"] for m in messages]


async def test_primary_times_out_after_accepting_then_the_status_query_shows_success_and_no_second_submit(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    product_id, order_id = uuid4(), uuid4()
    primary = suppliers.add(unique("slowpoke"), "accept_then_timeout", delay=1.5)
    backup = suppliers.add(unique("backup"))
    await register(api, product_id, primary.name, suppliers.url(primary.name), 0, timeout=0.4)
    await register(api, product_id, backup.name, suppliers.url(backup.name), 1)

    await feed(service, recharge(order_id, product_id))
    await drain(service)

    assert primary.submits == {str(order_id): 1}
    assert primary.queries[str(order_id)] >= 1
    assert backup.total_submits() == 0
    record = await delivery(api, order_id)
    assert record["status"] == "succeeded" and record["mode"] == "recharge"
    submits = [a for a in record["attempt_log"] if a["phase"] == "submit"]
    assert [(a["outcome"], a["error_class"]) for a in submits] == [("succeeded", "timeout")]
    assert types(await outbox(service, order_id)) == ["DeliverySucceeded"]
    assert primary.bad_signatures == 0


async def test_primary_down_the_backup_delivers(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    product_id, order_id = uuid4(), uuid4()
    backup = suppliers.add(unique("backup"))
    await register(api, product_id, unique("down"), closed_port_url(), 0)
    await register(api, product_id, backup.name, suppliers.url(backup.name), 1)

    await feed(service, recharge(order_id, product_id))
    await drain(service)

    assert backup.submits == {str(order_id): 1}
    record = await delivery(api, order_id)
    assert record["status"] == "succeeded"
    outcomes = [(a["channel"].split("-")[0], a["outcome"], a["error_class"]) for a in record["attempt_log"]]
    assert outcomes == [("supplier:down", "transient", "connect")] * 3 + [
        ("supplier:backup", "succeeded", None)
    ]
    revealed = await api.get(f"/internal/deliveries/{order_id}/content")
    assert revealed.json()["content"] == f"topped up by {backup.name}"


async def test_a_permanent_error_fails_over_at_once_without_retrying(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    product_id, order_id = uuid4(), uuid4()
    picky = suppliers.add(unique("picky"), "out_of_stock")
    backup = suppliers.add(unique("backup"))
    await register(api, product_id, picky.name, suppliers.url(picky.name), 0)
    await register(api, product_id, backup.name, suppliers.url(backup.name), 1)
    await feed(service, recharge(order_id, product_id))
    await drain(service)
    assert picky.submits == {str(order_id): 1} and backup.submits == {str(order_id): 1}
    assert (await delivery(api, order_id))["status"] == "succeeded"
    assert await service.breakers.state(UUID(await supplier_id(api, picky.name))) == "closed"


async def supplier_id(api: httpx.AsyncClient, name: str) -> str:
    items = (await api.get("/internal/suppliers")).json()["items"]
    return str(next(s["supplier_id"] for s in items if s["name"] == name))


async def test_all_suppliers_down_goes_to_the_manual_queue_with_an_alert_and_the_order_keeps_its_state(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    product_id, order_id = uuid4(), uuid4()
    broken = suppliers.add(unique("broken"), "error_5xx")
    await register(api, product_id, unique("down"), closed_port_url(), 0)
    await register(api, product_id, broken.name, suppliers.url(broken.name), 1)

    await feed(service, recharge(order_id, product_id))
    await drain(service)

    record = await delivery(api, order_id)
    assert record["status"] == "manual"
    emitted = await outbox(service, order_id)
    assert types(emitted) == ["DeliveryNeedsAttention"]
    assert emitted[0]["payload"]["reason"] == "suppliers_exhausted"
    # each 5xx was settled by a status query (not found: never executed) before the next submit
    assert broken.submits[str(order_id)] == 3 and broken.queries[str(order_id)] == 3 and not broken.executed
    queue = (await api.get("/internal/manual-tasks")).json()["items"]
    [task] = [t for t in queue if t["order_id"] == str(order_id)]
    assert task["reason"] == "suppliers_exhausted" and task["request"]["account"] == "13800138000"
    await api.post(f"/internal/manual-tasks/{order_id}/claim", json={"operator": "ann"})
    done = await api.post(
        f"/internal/manual-tasks/{order_id}/deliver", json={"operator": "ann", "content": "recharged by hand"}
    )
    assert done.json()["status"] == "succeeded"


async def test_no_route_goes_to_the_manual_queue(service: Service, api: httpx.AsyncClient) -> None:
    order_id = uuid4()
    await feed(service, recharge(order_id, uuid4()))
    await drain(service)
    emitted = await outbox(service, order_id)
    assert (
        types(emitted) == ["DeliveryNeedsAttention"]
        and emitted[0]["payload"]["reason"] == "no_supplier_route"
    )


async def test_breaker_opens_skips_the_supplier_then_half_opens_and_closes(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    product_id = uuid4()
    flaky = suppliers.add(unique("flaky"), "rate_limited")
    backup = suppliers.add(unique("backup"))
    flaky_id = UUID(await register(api, product_id, flaky.name, suppliers.url(flaky.name), 0))
    await register(api, product_id, backup.name, suppliers.url(backup.name), 1)

    first = uuid4()
    await feed(service, recharge(first, product_id))
    await drain(service)
    assert flaky.submits == {str(first): 3} and await service.breakers.state(flaky_id) == "opened"

    second = uuid4()
    await feed(service, recharge(second, product_id))
    await drain(service)
    assert str(second) not in flaky.submits, "an open breaker must not let requests through"
    skipped = [a for a in (await delivery(api, second))["attempt_log"] if a["outcome"] == "breaker_open"]
    assert len(skipped) == 1 and backup.submits[str(second)] == 1

    flaky.mode = "ok"

    async def half_open_lets_one_through() -> bool:
        probe = uuid4()
        await feed(service, recharge(probe, product_id))
        await drain(service)
        return flaky.submits.get(str(probe)) == 1

    await eventually(half_open_lets_one_through, timeout=5)
    assert await service.breakers.state(flaky_id) == "closed"
    scores = (await api.get("/internal/suppliers/scores")).json()["items"]
    [row] = [s for s in scores if s["name"] == flaky.name]
    assert row["breaker"] == "closed" and row["attempts"] >= 4 and row["succeeded"] >= 1


async def test_the_same_recharge_request_redelivered_many_times_recharges_once(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer, database_url: str
) -> None:
    product_id, order_id = uuid4(), uuid4()
    slow = suppliers.add(unique("slow"), "slow", delay=0.2)
    await register(api, product_id, slow.name, suppliers.url(slow.name), 0)
    message = recharge(order_id, product_id)
    envelope, _ = await feed(service, message)
    await asyncio.gather(*(feed(service, message, envelope) for _ in range(5)))
    await asyncio.gather(*(feed(service, message) for _ in range(5)))

    other = bootstrap(settings_for(database_url))
    try:
        await asyncio.gather(drain(service), drain(other), drain(service), drain(other))
        await asyncio.gather(*(feed(service, message) for _ in range(3)))
        await asyncio.gather(drain(service), drain(other))
    finally:
        await close_breakers(other.breakers.factory)
        await other.runtime.engine.dispose()
    assert slow.submits == {str(order_id): 1}
    assert types(await outbox(service, order_id)) == ["DeliverySucceeded"]


async def test_platform_supplier_processing_then_delivered_through_the_agent_api(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    product_id, order_id = uuid4(), uuid4()
    shop = suppliers.add(unique("othershop"), "processing", processing_polls=3)
    await register(api, product_id, shop.name, suppliers.url(shop.name, platform=True), 0, kind="platform")
    await feed(service, recharge(order_id, product_id))
    await drain(service)
    assert (
        shop.submits == {str(order_id): 1} and shop.queries[str(order_id)] == 3 and shop.bad_signatures == 0
    )
    record = await delivery(api, order_id)
    assert record["status"] == "succeeded"
    assert [a["outcome"] for a in record["attempt_log"] if a["phase"] == "submit"] == ["succeeded"]


async def test_supplier_balance_products_and_claims(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    fake = suppliers.add(unique("catalog"))
    product_id, order_id = uuid4(), uuid4()
    sid = await register(api, product_id, fake.name, suppliers.url(fake.name), 0)
    assert (await api.get(f"/internal/suppliers/{sid}/balance")).json() == {
        "supplier_id": sid, "balance": 123_456, "currency": "CNY"
    }  # fmt: skip
    [product] = (await api.get(f"/internal/suppliers/{sid}/products")).json()["items"]
    assert product["sku"] == "mobile-50" and product["price"] == 4950
    await feed(service, recharge(order_id, product_id))
    await drain(service)
    claim_of = {"amount": 4900, "reason": "recharge never arrived", "recorded_by": "ann"}
    unknown = await api.post(f"/internal/suppliers/{sid}/claims", json={**claim_of, "order_id": str(uuid4())})
    assert unknown.status_code == 404 and "no delivery for order" in unknown.json()["message"]
    claim = await api.post(f"/internal/suppliers/{sid}/claims", json={**claim_of, "order_id": str(order_id)})
    assert claim.status_code == 201
    scores = (await api.get("/internal/suppliers/scores")).json()["items"]
    assert [s["claims"] for s in scores if s["name"] == fake.name] == [1]
    duplicate = await api.post(
        "/internal/suppliers",
        json={"name": fake.name, "kind": "http_json", "base_url": "http://127.0.0.1:1", "secret": SECRET},
    )
    assert duplicate.status_code == 409
    bad_config = await api.post(
        "/internal/suppliers",
        json={"name": unique("x"), "kind": "http_json", "base_url": "http://127.0.0.1:1", "secret": SECRET,
              "config": {"no_such_setting": 1}},
    )  # fmt: skip
    assert bad_config.status_code == 400
