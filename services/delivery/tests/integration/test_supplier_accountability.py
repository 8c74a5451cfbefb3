"""Suppliers held to account, on a real Postgres with suppliers played by a local HTTP server: a confirmed key
replacement claims the key's cost from its batch's supplier once however often the event comes, the claim is
deducted from the shop's deposit; a supplier whose claim rate passes the shop's thresholds is ranked last,
then paused (announced, counted) and gets no routes, until an operator resumes it, and so is a card-key
supplier judged on the keys its recent batches sold; another shop's supplier is not found; bad thresholds
are 422s naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.adapters.metrics import LEDGER_AMOUNT, LEDGER_ENTRIES, SUPPLIERS_PAUSED
from delivery.bootstrap import Service
from delivery.service_layer.watchdog import sample_ledger
from faka_common.contracts.aftersales import KeyReplaced, SupplierBatchSales
from faka_common.contracts.delivery import RechargeRequested
from faka_common.http import SHOP_HEADER
from faka_common.metrics import shop_label

from .conftest import SECRET, SupplierServer, feed
from .test_recharge import drain, unique

pytestmark = pytest.mark.integration


def acting_for(shop: UUID) -> dict[str, str]:
    return {SHOP_HEADER: str(shop)}


async def add_supplier(api: httpx.AsyncClient, shop: UUID, name: str, base_url: str) -> str:
    created = await api.post(
        "/internal/suppliers",
        json={"name": name, "kind": "http_json", "base_url": base_url, "secret": SECRET,
              "config": {"merchant_id": "m-1"}, "timeout_seconds": 2.0},
        headers=acting_for(shop),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    supplier_id: str = created.json()["supplier_id"]
    return supplier_id


async def route(
    api: httpx.AsyncClient, shop: UUID, product_id: UUID, supplier_id: str, priority: int
) -> None:
    routed = await api.put(
        f"/internal/products/{product_id}/routes/{supplier_id}",
        json={"supplier_sku": "mobile-50", "priority": priority, "cost": 4900},
        headers=acting_for(shop),
    )
    assert routed.status_code == 200, routed.text


async def account(api: httpx.AsyncClient, shop: UUID, supplier_id: str) -> dict[str, Any]:
    found = await api.get(f"/internal/suppliers/{supplier_id}/account", headers=acting_for(shop))
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def routing_order(api: httpx.AsyncClient, shop: UUID, product_id: UUID) -> list[str]:
    listed = await api.get(f"/internal/products/{product_id}/routes", headers=acting_for(shop))
    assert listed.status_code == 200, listed.text
    return [r["supplier_id"] for r in listed.json()["items"]]


def replaced(shop: UUID, supplier_id: UUID | str, batch_id: UUID, cost: int = 1500) -> KeyReplaced:
    return KeyReplaced(
        order_id=uuid4(), shop_id=shop, product_id=uuid4(), claim_id=uuid4(), ticket_id=uuid4(),
        voided_key_id=uuid4(), key_id=uuid4(), batch_id=batch_id, cost_price=cost,
        supplier_id=UUID(str(supplier_id)), currency="CNY",
    )  # fmt: skip


async def test_a_replaced_key_claims_its_cost_from_the_batchs_supplier_once_and_the_deposit_pays_it(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    shop, batch = uuid4(), uuid4()
    supplier_id = await add_supplier(api, shop, unique("keys"), suppliers.url("keys"))
    deposit = await api.post(
        f"/internal/suppliers/{supplier_id}/deposits",
        json={"amount": 10_000, "currency": "CNY", "note": "deposit", "recorded_by": "owner@shop"},
        headers=acting_for(shop),
    )
    assert deposit.status_code == 201, deposit.text

    event = replaced(shop, supplier_id, batch)
    envelope, first = await feed(service, event)
    _, redelivered = await feed(service, event, envelope)  # the broker delivers the same record again
    _, re_emitted = await feed(service, event)  # the same fact in a new envelope (a new event id)

    assert (first, re_emitted) == ("handled", "handled")
    assert redelivered != "failed"
    found = await account(api, shop, supplier_id)
    assert found["claims"] == [
        {"batch_id": str(batch), "currency": "CNY", "claims": 1, "replacements": 1, "amount": 1500}
    ]
    assert found["balances"] == {"CNY": 10_000 - 1500}
    assert sorted((e["kind"], e["amount"]) for e in found["entries"]) == [
        ("claim", -1500),
        ("deposit", 10_000),
    ]
    [claim] = (await api.get(f"/internal/suppliers/{supplier_id}/claims", headers=acting_for(shop))).json()[
        "items"
    ]
    assert (claim["order_id"], claim["amount"], claim["recorded_by"]) == (str(event.order_id), 1500, "system")


async def ledger_figures(service: Service) -> dict[str, tuple[float, float]]:
    """What the metrics say of the CNY ledger entries, by kind, right after a sample."""
    await sample_ledger(service.uow)
    entries, amount = LEDGER_ENTRIES.labels, LEDGER_AMOUNT.labels
    return {
        kind: (entries(kind, "CNY")._value.get(), amount(kind, "CNY")._value.get())
        for kind in ("deposit", "claim")
    }


async def test_the_ledger_metrics_show_each_booking_once_whatever_the_broker_redelivers(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    before = await ledger_figures(service)
    shop = uuid4()
    supplier_id = await add_supplier(api, shop, unique("ledger"), suppliers.url("ledger"))
    deposit = await api.post(
        f"/internal/suppliers/{supplier_id}/deposits",
        json={"amount": 7_000, "currency": "CNY", "note": "deposit", "recorded_by": "owner@shop"},
        headers=acting_for(shop),
    )
    assert deposit.status_code == 201, deposit.text
    event = replaced(shop, supplier_id, uuid4(), cost=900)
    envelope, _ = await feed(service, event)
    await feed(service, event, envelope)

    after = await ledger_figures(service)
    assert after["deposit"] == (before["deposit"][0] + 1, before["deposit"][1] + 7_000)
    assert after["claim"] == (before["claim"][0] + 1, before["claim"][1] - 900)


async def test_a_replacement_naming_another_shops_supplier_or_none_claims_nothing(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    shop, other = uuid4(), uuid4()
    theirs = await add_supplier(api, other, unique("theirs"), suppliers.url("theirs"))

    _, outcome = await feed(service, replaced(shop, theirs, uuid4()))
    no_supplier = replaced(shop, theirs, uuid4()).model_copy(update={"supplier_id": None})
    _, without = await feed(service, no_supplier)

    assert (outcome, without) == ("handled", "handled")
    assert (await account(api, other, theirs))["claims"] == []


async def test_another_shops_supplier_is_not_found_for_account_deposit_and_resume(
    api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    shop, other = uuid4(), uuid4()
    theirs = await add_supplier(api, other, unique("theirs"), suppliers.url("theirs"))
    mine = acting_for(shop)

    answers = [
        await api.get(f"/internal/suppliers/{theirs}/account", headers=mine),
        await api.post(
            f"/internal/suppliers/{theirs}/deposits",
            json={"amount": 100, "recorded_by": "me"},
            headers=mine,
        ),
        await api.post(f"/internal/suppliers/{theirs}/resume", json={"resumed_by": "me"}, headers=mine),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert (await account(api, other, theirs))["balances"] == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"demote_claim_rate": -0.1}, "demote_claim_rate"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"min_sample": 0}, "min_sample"),
        ({"pause_claim_rate": 1.5}, "pause_claim_rate"),
    ],
)
async def test_bad_thresholds_are_a_422_naming_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    shop = uuid4()
    body = {
        "window_minutes": 60,
        "min_sample": 3,
        "demote_claim_rate": 0.1,
        "pause_claim_rate": 0.5,
        **change,
    }

    answer = await api.put("/internal/supplier-policy", json=body, headers=acting_for(shop))

    assert answer.status_code == 422, answer.text
    assert field in answer.text
    kept = (await api.get("/internal/supplier-policy", headers=acting_for(shop))).json()
    assert kept["pause_claim_rate"] == 0.2  # the default: nothing was saved


async def test_a_supplier_over_the_thresholds_is_ranked_last_then_paused_then_resumed(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    shop, product_id = uuid4(), uuid4()
    primary, backup = suppliers.add(unique("primary")), suppliers.add(unique("backup"))
    first = await add_supplier(api, shop, primary.name, suppliers.url(primary.name))
    second = await add_supplier(api, shop, backup.name, suppliers.url(backup.name))
    await route(api, shop, product_id, first, 0)
    await route(api, shop, product_id, second, 1)
    policy = {"window_minutes": 60, "min_sample": 3, "demote_claim_rate": 0.3, "pause_claim_rate": 0.6}
    assert (
        await api.put("/internal/supplier-policy", json=policy, headers=acting_for(shop))
    ).status_code == 200
    orders = [uuid4() for _ in range(3)]
    for order_id in orders:
        await feed(service, RechargeRequested(
            order_id=order_id, shop_id=shop, product_id=product_id, account="13800138000", amount=5000,
        ))  # fmt: skip
    await drain(service)
    assert primary.total_submits() == 3 and backup.total_submits() == 0

    async def claim(order_id: UUID) -> None:
        made = await api.post(
            f"/internal/suppliers/{first}/claims",
            json={"order_id": str(order_id), "amount": 4900, "reason": "never arrived", "recorded_by": "ops"},
            headers=acting_for(shop),
        )
        assert made.status_code == 201, made.text

    assert await routing_order(api, shop, product_id) == [first, second]
    await claim(orders[0])  # 1 claim of 3 successes: 0.33, over the demotion threshold
    assert await routing_order(api, shop, product_id) == [second, first]
    assert not (await account(api, shop, first))["paused"]

    paused_before = SUPPLIERS_PAUSED.labels(shop_label(shop))._value.get()
    await claim(orders[1])  # 2 of 3: 0.67, over the pause threshold
    assert await routing_order(api, shop, product_id) == [second]
    standing = await account(api, shop, first)
    assert standing["paused"] and "claim rate" in standing["paused_reason"]
    assert SUPPLIERS_PAUSED.labels(shop_label(shop))._value.get() == paused_before + 1
    await claim(orders[2])  # still paused: announced once
    assert SUPPLIERS_PAUSED.labels(shop_label(shop))._value.get() == paused_before + 1
    async with service.runtime.engine.connect() as connection:
        from sqlalchemy import text

        announced = await connection.execute(
            text("SELECT count(*) FROM outbox WHERE key = :key"), {"key": first}
        )
        assert announced.scalar_one() == 1
    next_order = uuid4()
    await feed(service, RechargeRequested(
        order_id=next_order, shop_id=shop, product_id=product_id, account="13800138000", amount=5000,
    ))  # fmt: skip
    await drain(service)
    assert backup.submits == {str(next_order): 1} and primary.total_submits() == 3

    resumed = await api.post(
        f"/internal/suppliers/{first}/resume", json={"resumed_by": "ops"}, headers=acting_for(shop)
    )

    assert resumed.status_code == 200, resumed.text
    assert not resumed.json()["paused"]
    assert await routing_order(api, shop, product_id) == [first, second]  # judged afresh from the resume
    again = await api.post(
        f"/internal/suppliers/{first}/resume", json={"resumed_by": "ops"}, headers=acting_for(shop)
    )
    assert again.status_code == 200, again.text
    async with service.runtime.engine.connect() as connection:
        from sqlalchemy import text

        told = await connection.execute(
            text("SELECT type, count(*) FROM outbox WHERE key = :key GROUP BY type ORDER BY type"),
            {"key": first},
        )
        assert told.all() == [("SupplierPaused", 1), ("SupplierResumed", 1)]  # the resume once


async def test_a_card_key_supplier_whose_keys_keep_failing_is_demoted_then_paused_with_a_claim_each(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    """The default thresholds (20 sales at least, demoted at 5 % claims, paused at 20 %), judged on the keys
    its batches delivered: 40 sold from a batch imported now, one more for each replacement."""
    shop, product_id, batch, old_batch = uuid4(), uuid4(), uuid4(), uuid4()
    keys = await add_supplier(api, shop, unique("keys"), suppliers.url("keys"))
    other = await add_supplier(api, shop, unique("other"), suppliers.url("other"))
    await route(api, shop, product_id, keys, 0)
    await route(api, shop, product_id, other, 1)
    imported, long_ago = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) - timedelta(days=30)
    paused_before = SUPPLIERS_PAUSED.labels(shop_label(shop))._value.get()

    async def key_fails(n: int, in_batch: UUID = batch) -> None:
        sales = [
            SupplierBatchSales(batch_id=batch, imported_at=imported, delivered=40 + n),
            SupplierBatchSales(batch_id=old_batch, imported_at=long_ago, delivered=5),
        ]
        event = replaced(shop, keys, in_batch).model_copy(update={"supplier_batches": sales})
        assert (await feed(service, event))[1] == "handled"

    for n in range(1, 4):  # keys of a batch older than the window count with it, outside the window
        await key_fails(n, old_batch)
    assert await routing_order(api, shop, product_id) == [keys, other]
    for n in range(1, 3):  # 2 claims of 42 keys sold: under 5 %
        await key_fails(n)
    assert await routing_order(api, shop, product_id) == [keys, other]
    await key_fails(3)  # 3 of 43: demoted, tried after the other supplier
    assert await routing_order(api, shop, product_id) == [other, keys]
    assert not (await account(api, shop, keys))["paused"]
    for n in range(4, 10):  # 9 of 49: still under 20 %
        await key_fails(n)
    assert not (await account(api, shop, keys))["paused"]
    await key_fails(10)  # 10 of 50: paused, announced once
    await key_fails(11)

    standing = await account(api, shop, keys)
    assert standing["paused"] and "claim rate 0.200" in standing["paused_reason"]
    assert "(10 claims / 50 successes)" in standing["paused_reason"]
    assert await routing_order(api, shop, product_id) == [other]
    assert SUPPLIERS_PAUSED.labels(shop_label(shop))._value.get() == paused_before + 1
    claimed = {c["batch_id"]: (c["claims"], c["replacements"]) for c in standing["claims"]}
    assert claimed == {str(batch): (11, 11), str(old_batch): (3, 3)}  # a claim per confirmed replacement
