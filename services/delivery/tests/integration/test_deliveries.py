"""Card keys, the manual queue, sealed content and the SLA watchdog, through the real consumer, unit of
work and HTTP routes on a real Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.bootstrap import Service
from delivery.service_layer import watchdog
from faka_common.contracts import Envelope, KeysAllocated, OrderPaid
from faka_common.contracts.delivery import ManualDeliveryRequested
from faka_common.testing import as_caller, statements_run
from sqlalchemy import text

from .conftest import Record, feed, outbox

pytestmark = pytest.mark.integration


def allocated(order_id: UUID, keys: int = 2, delivery_type: str = "card_key") -> KeysAllocated:
    return KeysAllocated(
        order_id=order_id,
        product_id=uuid4(),
        key_ids=[uuid4() for _ in range(keys)],
        delivery_type=delivery_type,
    )


def paid(order_id: UUID, paid_at: datetime | None = None) -> OrderPaid:
    return OrderPaid(
        order_id=order_id,
        order_no="F1",
        product_id=uuid4(),
        quantity=1,
        amount=4800,
        currency="CNY",
        provider="sandbox",
        trade_no=f"T{order_id.hex[:8]}",
        paid_at=paid_at or datetime.now(UTC),
    )


def types(messages: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [m["type"] for m in messages]


def records_of(messages: list[OrderPaid] | list[KeysAllocated]) -> list[Record]:
    """The messages as one fetch's records, in their order."""
    return [
        Record(m.topic, 0, offset, m.key.encode(), Envelope.wrap(m, "producer").to_bytes())
        for offset, m in enumerate(messages)
    ]


async def test_keys_allocated_redelivered_many_times_gives_one_delivery(
    service: Service, api: httpx.AsyncClient
) -> None:
    order_id = uuid4()
    message = allocated(order_id)
    envelope, first = await feed(service, message)
    replays = await asyncio.gather(*(feed(service, message, envelope) for _ in range(5)))
    fresh = [await feed(service, message) for _ in range(3)]  # same fact, new event ids (a re-emission)
    assert first == "handled"
    assert {outcome for _, outcome in replays} == {"duplicate"}
    assert {outcome for _, outcome in fresh} == {"handled"}
    emitted = await outbox(service, order_id)
    assert types(emitted) == ["DeliverySucceeded"]
    assert emitted[0]["payload"]["item_count"] == 2
    record = (await api.get(f"/internal/deliveries/{order_id}")).json()
    assert record["status"] == "succeeded" and record["mode"] == "card_key"
    [attempt] = record["attempt_log"]
    assert attempt["channel"] == "card_key" and attempt["outcome"] == "succeeded"


async def test_an_orders_payment_and_keys_arriving_at_once_make_one_delivery(
    service: Service, api: httpx.AsyncClient
) -> None:
    orders = [uuid4() for _ in range(10)]
    outcomes = await asyncio.gather(
        *(feed(service, message) for order_id in orders for message in (paid(order_id), allocated(order_id)))
    )
    assert {outcome for _, outcome in outcomes} == {"handled"}
    for order_id in orders:
        assert types(await outbox(service, order_id)) == ["DeliverySucceeded"]
        record = (await api.get(f"/internal/deliveries/{order_id}")).json()
        assert record["status"] == "succeeded" and record["paid_at"] is not None
    async with service.runtime.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT order_id, count(*) FROM deliveries WHERE order_id = ANY(:o) GROUP BY order_id"),
            {"o": orders},
        )
        assert sorted(count for _, count in rows.all()) == [1] * len(orders)


async def test_latency_counts_from_the_allocation_envelope(service: Service, api: httpx.AsyncClient) -> None:
    order_id = uuid4()
    message = allocated(order_id, keys=1)
    envelope = Envelope.wrap(message, "inventory").model_copy(
        update={"occurred_at": datetime.now(UTC) - timedelta(seconds=3)}
    )
    await feed(service, message, envelope)
    record = (await api.get(f"/internal/deliveries/{order_id}")).json()
    assert 3000 <= record["latency_ms"] < 10_000
    assert record["requested_at"] == envelope.occurred_at.isoformat()


async def test_payment_seen_before_or_after_the_keys_still_delivers_once(service: Service) -> None:
    before, after = uuid4(), uuid4()
    await feed(service, paid(before))
    await feed(service, allocated(before))
    await feed(service, allocated(after))
    await feed(service, paid(after))
    assert types(await outbox(service, before)) == ["DeliverySucceeded"]
    assert types(await outbox(service, after)) == ["DeliverySucceeded"]


async def test_a_run_of_payments_records_each_delivery_as_one_by_one_would(
    service: Service, api: httpx.AsyncClient
) -> None:
    """A batch of payments (one statement for all): a new order's delivery is pending and paid; one whose
    keys came first gains its paid time and keeps its product; one paid before keeps its first paid time;
    an order twice in the run is recorded once."""
    new, keys_first, paid_before, twice = (uuid4() for _ in range(4))
    await feed(service, allocated(keys_first))
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    await feed(service, paid(paid_before, earlier))
    now = datetime.now(UTC)
    run = [paid(new, now), paid(keys_first, now), paid(paid_before, now)]
    assert await service.consumer.consume_batch(records_of(run)) == ["handled"] * 3
    async with service.runtime.engine.connect() as connection:
        before = (
            await connection.execute(
                text("SELECT product_id FROM deliveries WHERE order_id = :o"), {"o": keys_first}
            )
        ).scalar_one()

    seen: dict[UUID, dict[str, Any]] = {
        order_id: (await api.get(f"/internal/deliveries/{order_id}")).json()
        for order_id in (new, keys_first, paid_before)
    }
    assert seen[new]["status"] == "pending" and seen[new]["paid_at"] == now.isoformat()
    assert seen[keys_first]["status"] == "succeeded" and seen[keys_first]["paid_at"] == now.isoformat()
    assert seen[keys_first]["product_id"] == str(before) != str(run[1].product_id)
    assert seen[paid_before]["paid_at"] == earlier.isoformat()
    again = [paid(twice, now), paid(twice, now)]
    assert await service.consumer.consume_batch(records_of(again)) == ["handled"] * 2
    assert (await api.get(f"/internal/deliveries/{twice}")).json()["paid_at"] == now.isoformat()


async def test_a_run_of_allocations_delivers_each_as_one_by_one_would_in_a_statement_a_step(
    service: Service, api: httpx.AsyncClient
) -> None:
    """A batch of allocations takes one statement for the deliveries' locks, one for the attempts, one for
    the saves and one for the manual tasks: a paid order's delivery succeeds with its items and keeps its
    paid time; one in the manual queue succeeds and the system resolves its task; one delivered before is
    left as it was; a keyless one fails. An order whose payment is not recorded yet is created and
    delivered alone, in the same run. Each is announced once."""
    paid_first, queued, done_before, keyless, unpaid = (uuid4() for _ in range(5))
    paid_at = datetime.now(UTC) - timedelta(seconds=30)
    for order_id in (paid_first, done_before, keyless):
        await feed(service, paid(order_id, paid_at))
    await feed(service, ManualDeliveryRequested(order_id=queued, product_id=uuid4()))
    await feed(service, allocated(done_before))
    run = [allocated(paid_first, keys=3), allocated(queued), allocated(done_before), allocated(keyless, 0)]
    async with statements_run(service.runtime.engine) as sent:
        assert await service.consumer.consume_batch(records_of(run)) == ["handled"] * 4
    for step in ("INSERT INTO delivery_attempts", "UPDATE deliveries"):
        assert len([q for q in sent if q.startswith(step)]) == 1, step
    for locked in ("deliveries", "manual_tasks"):
        assert len([q for q in sent if f"FROM {locked} " in q and "FOR UPDATE" in q]) == 1, locked

    assert types(await outbox(service, paid_first)) == ["DeliverySucceeded"]
    record = (await api.get(f"/internal/deliveries/{paid_first}")).json()
    assert (record["status"], record["item_count"]) == ("succeeded", 3)
    assert record["paid_at"] == paid_at.isoformat()
    assert [a["outcome"] for a in record["attempt_log"]] == ["succeeded"]
    assert types(await outbox(service, queued)) == ["DeliveryNeedsAttention", "DeliverySucceeded"]
    async with service.runtime.engine.connect() as connection:
        task = (
            await connection.execute(
                text("SELECT status, resolved_by FROM manual_tasks WHERE order_id = :o"), {"o": queued}
            )
        ).one()
    assert tuple(task) == ("resolved", "system")
    assert types(await outbox(service, done_before)) == ["DeliverySucceeded"]
    assert len((await api.get(f"/internal/deliveries/{done_before}")).json()["attempt_log"]) == 1
    assert types(await outbox(service, keyless)) == ["DeliveryFailed"]
    assert (await api.get(f"/internal/deliveries/{keyless}")).json()["status"] == "failed"

    later = uuid4()
    await feed(service, paid(later))
    assert (
        await service.consumer.consume_batch(records_of([allocated(unpaid), allocated(later)]))
        == ["handled"] * 2
    )
    for order_id in (unpaid, later):
        assert types(await outbox(service, order_id)) == ["DeliverySucceeded"]
        assert (await api.get(f"/internal/deliveries/{order_id}")).json()["status"] == "succeeded"


async def test_manual_order_is_claimed_delivered_and_its_content_reaches_the_buyer_sealed(
    service: Service, api: httpx.AsyncClient
) -> None:
    order_id = uuid4()
    request = ManualDeliveryRequested(
        order_id=order_id, product_id=uuid4(), order_no="F9", buyer_fields={"game_account": "player#1234"}
    )
    envelope, _ = await feed(service, request)
    await feed(service, request, envelope)
    assert types(await outbox(service, order_id)) == ["DeliveryNeedsAttention"]

    queue = (await api.get("/internal/manual-tasks")).json()["items"]
    [task] = [t for t in queue if t["order_id"] == str(order_id)]
    assert (
        task["request"]["buyer_fields"] == {"game_account": "player#1234"}
        and task["reason"] == "manual_product"
    )

    unclaimed = await api.post(
        f"/internal/manual-tasks/{order_id}/deliver", json={"operator": "ann", "content": "x"}
    )
    assert unclaimed.status_code == 409
    assert (
        await api.post(f"/internal/manual-tasks/{order_id}/claim", json={"operator": "ann"})
    ).status_code == 200
    taken = await api.post(f"/internal/manual-tasks/{order_id}/claim", json={"operator": "bob"})
    assert taken.status_code == 409 and "ann" in taken.json()["message"]

    done = await api.post(
        f"/internal/manual-tasks/{order_id}/deliver", json={"operator": "ann", "content": "Gift code ZZ-99"}
    )
    assert (
        done.status_code == 200 and done.json()["status"] == "succeeded" and done.json()["mode"] == "manual"
    )
    assert types(await outbox(service, order_id)) == ["DeliveryNeedsAttention", "DeliverySucceeded"]
    again = await api.post(
        f"/internal/manual-tasks/{order_id}/deliver", json={"operator": "ann", "content": "y"}
    )
    assert again.status_code == 409

    async with service.runtime.engine.connect() as connection:
        blob = (
            await connection.execute(
                text("SELECT blob FROM delivery_contents WHERE order_id = :o"), {"o": order_id}
            )
        ).scalar_one()
    assert b"ZZ-99" not in blob

    revealed = await api.get(f"/internal/deliveries/{order_id}/content", headers=as_caller("notification"))
    assert revealed.status_code == 200
    assert revealed.json()["content"] == "Gift code ZZ-99" and revealed.json()["source"] == "operator"
    assert await readers(service, order_id) == ["notification"]


async def readers(service: Service, order_id: UUID) -> list[str]:
    async with service.runtime.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT reader FROM content_reveals WHERE order_id = :o ORDER BY id"), {"o": order_id}
        )
        return list(rows.scalars())


async def claimed_task(service: Service, api: httpx.AsyncClient) -> UUID:
    """A manual order in the queue, claimed by operator ann."""
    order_id = uuid4()
    await feed(service, ManualDeliveryRequested(order_id=order_id, product_id=uuid4()))
    await api.post(f"/internal/manual-tasks/{order_id}/claim", json={"operator": "ann"})
    return order_id


async def test_only_the_key_readers_reveal_delivered_content_and_the_audit_names_the_caller(
    service: Service, api: httpx.AsyncClient
) -> None:
    order_id = await claimed_task(service, api)
    await api.post(f"/internal/manual-tasks/{order_id}/deliver", json={"operator": "ann", "content": "K-1"})
    path = f"/internal/deliveries/{order_id}/content"

    for outsider in ("risk", "commission", "order", "inventory"):
        refused = await api.get(path, headers=as_caller(outsider))
        assert refused.status_code == 403, outsider
        assert (
            refused.json()["message"] == f"this internal route admits gateway, notification; not {outsider}"
        )
    anonymous = await api.get(path, headers={"X-Internal-Caller": "", "X-Internal-Token": ""})
    assert anonymous.status_code == 401
    forged = await api.get(path, headers={**as_caller("notification"), "X-Internal-Token": "guess"})
    assert forged.status_code == 401 and "K-1" not in forged.text
    # the reader is whoever authenticated: a reader parameter names nobody
    revealed = await api.get(path, params={"reader": "notification"})
    assert revealed.status_code == 200 and revealed.json()["content"] == "K-1"
    assert await readers(service, order_id) == ["gateway"]


async def test_rejected_manual_order_fails_with_the_operators_reason(
    service: Service, api: httpx.AsyncClient
) -> None:
    order_id = await claimed_task(service, api)
    rejected = await api.post(
        f"/internal/manual-tasks/{order_id}/reject", json={"operator": "ann", "reason": "account banned"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "failed"
    emitted = await outbox(service, order_id)
    assert types(emitted) == ["DeliveryNeedsAttention", "DeliveryFailed"]
    assert "account banned" in emitted[-1]["payload"]["reason"]


async def test_bad_requests_get_clear_4xx(service: Service, api: httpx.AsyncClient) -> None:
    assert (await api.get(f"/internal/deliveries/{uuid4()}")).status_code == 404
    assert (await api.get(f"/internal/deliveries/{uuid4()}/content")).status_code == 404
    assert (
        await api.post(f"/internal/manual-tasks/{uuid4()}/claim", json={"operator": "a"})
    ).status_code == 404
    assert (await api.post(f"/internal/manual-tasks/{uuid4()}/claim", json={})).status_code == 422
    assert (await api.get("/internal/deliveries/not-a-uuid")).status_code == 422
    unauthorized = await api.get(f"/internal/deliveries/{uuid4()}", headers={"X-Internal-Token": "wrong"})
    assert unauthorized.status_code == 401
    not_admitted = await api.get(f"/internal/deliveries/{uuid4()}", headers=as_caller("notification"))
    assert not_admitted.status_code == 403


async def test_sla_watchdog_alerts_once_and_queues_a_late_order_that_later_keys_still_deliver(
    service: Service, api: httpx.AsyncClient
) -> None:
    late, on_time = uuid4(), uuid4()
    await feed(service, paid(late, datetime.now(UTC) - timedelta(minutes=6)))
    await feed(service, paid(on_time))
    assert await watchdog.sweep_once(service.uow, 5) >= 1
    assert await watchdog.sweep_once(service.uow, 5) == 0
    emitted = await outbox(service, late)
    assert types(emitted) == ["DeliveryDelayed"]
    assert emitted[0]["payload"]["threshold_minutes"] == 5 and emitted[0]["payload"]["status"] == "pending"
    assert await outbox(service, on_time) == []
    queue = (await api.get("/internal/manual-tasks")).json()["items"]
    assert [t["reason"] for t in queue if t["order_id"] == str(late)] == ["sla_breach"]

    await feed(service, allocated(late, keys=1))
    assert types(await outbox(service, late)) == ["DeliveryDelayed", "DeliverySucceeded"]
    resolved = (await api.get("/internal/manual-tasks", params={"status": "resolved"})).json()["items"]
    assert [t["resolved_by"] for t in resolved if t["order_id"] == str(late)] == ["system"]
