"""Ticket levels and SLA timers on a real Postgres: the system answers what a rule can (L1), the rest waits
for the shop (L2) on the shop's timers, the buyer or the shop takes a ticket to the platform (L3) whose queue
spans the shops; the periodic sweep makes a ticket past its deadline overdue once and sends an L2 ticket past
its escalation deadline to the platform, exactly once even with two replicas sweeping at the same moment;
canned replies per shop and language."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.adapters import ticket_metrics
from delivery.bootstrap import Service
from delivery.service_layer import tickets
from faka_common.contracts.tickets import MAX_TICKET_MESSAGE
from sqlalchemy import text

from .conftest import built_service, outbox, settings_for
from .test_tickets import acting_for, delivered_order, open_ticket, ticket

pytestmark = pytest.mark.integration


async def emitted(service: Service, order_id: UUID, kind: str) -> list[dict[str, Any]]:
    return [m["payload"] for m in await outbox(service, order_id) if m["type"] == kind]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_how_to_use_is_answered_with_the_products_instructions_at_once(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    body = ticket(order_id, product_id, "how_to_use", usage_instructions="Redeem it at store.example/redeem")

    opened = await open_ticket(api, shop, body)

    assert (opened["level"], opened["status"], opened["response_due"]) == ("L1", "answered", None)
    assert [(m["author"], m["author_label"]) for m in opened["messages"]] == [
        ("buyer", "buyer"), ("system", "answer"),
    ]  # fmt: skip
    assert "store.example/redeem" in opened["messages"][1]["body"]


async def test_how_to_use_without_instructions_waits_for_the_shop_on_its_timers(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    timers = {"first_response_minutes": 30, "resolution_minutes": 600, "escalation_minutes": 60}
    assert (await api.put("/internal/ticket-sla", json=timers, headers=acting_for(shop))).status_code == 200

    opened = await open_ticket(api, shop, ticket(order_id, product_id, "how_to_use"))

    assert (opened["level"], opened["status"]) == ("L2", "open")
    created = at(opened["created_at"])
    assert at(opened["response_due"]) - created == timedelta(minutes=30)
    assert at(opened["resolution_due"]) - created == timedelta(minutes=600)
    assert at(opened["escalation_due"]) - created == timedelta(minutes=660)


async def test_not_received_on_a_delivered_order_says_where_the_key_is_and_resends_the_email(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)

    opened = await open_ticket(api, shop, ticket(order_id, product_id, "not_received"))

    assert (opened["level"], opened["status"]) == ("L1", "answered")
    answer = opened["messages"][1]["body"]
    assert "three places" in answer and "三个地方" in answer
    [resend] = await emitted(service, order_id, "DeliveryEmailResendRequested")
    assert (resend["ticket_id"], resend["shop_id"]) == (opened["ticket_id"], str(shop))
    again = await api.post(
        f"/internal/orders/{order_id}/tickets/{opened['ticket_id']}/messages",
        json={"author": "buyer", "message": "It is not in any of them"},
        headers=acting_for(shop),
    )
    assert (again.json()["level"], again.json()["status"]) == ("L2", "open")
    assert again.json()["response_due"] is not None


async def test_the_buyer_takes_a_ticket_to_the_platform_which_alone_closes_it(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop, other_shop = uuid4(), uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    opened = await open_ticket(api, shop, ticket(order_id, product_id, "refund_request"))
    tid = opened["ticket_id"]
    dispute = {"author": "buyer", "message": "The shop refuses a refund for a key that never worked"}

    escalated = await api.post(
        f"/internal/orders/{order_id}/tickets/{tid}/escalation", json=dispute, headers=acting_for(shop)
    )
    twice = await api.post(
        f"/internal/orders/{order_id}/tickets/{tid}/escalation", json=dispute, headers=acting_for(shop)
    )

    assert escalated.status_code == 200, escalated.text
    seen = escalated.json()
    assert (seen["level"], seen["status"], seen["escalated_by"], seen["reason"]) == (
        "L3", "open", "buyer", "escalation_requested",
    )  # fmt: skip
    assert twice.status_code == 409
    [event] = await emitted(service, order_id, "TicketEscalated")
    assert (event["by"], event["ticket_id"]) == ("buyer", tid)
    queue = (await api.get("/internal/platform/tickets")).json()["items"]
    assert tid in {t["ticket_id"] for t in queue}
    assert {t["level"] for t in queue} == {"L3"}
    assert next(t for t in queue if t["ticket_id"] == tid)["shop_id"] == str(shop)
    elsewhere = (await api.get("/internal/tickets?level=L3", headers=acting_for(other_shop))).json()
    assert elsewhere["items"] == []

    replies = f"/internal/tickets/{tid}/replies"
    shop_closes = await api.post(
        replies, json={"author": "ann", "message": "Closing", "resolve": True}, headers=acting_for(shop)
    )
    shop_answers = await api.post(
        replies, json={"author": "ann", "message": "The key was redeemed"}, headers=acting_for(shop)
    )
    platform_closes = await api.post(
        replies,
        json={"author": "pat@platform", "message": "Refund granted", "resolve": True, "by": "platform"},
        headers=acting_for(shop),
    )
    assert shop_closes.status_code == 409 and "platform" in shop_closes.json()["message"]
    assert (shop_answers.json()["level"], shop_answers.json()["status"]) == ("L3", "answered")
    closed = platform_closes.json()
    assert (closed["level"], closed["status"]) == ("L3", "resolved")
    assert [m["author"] for m in closed["messages"]][-3:] == ["buyer", "shop", "platform"]


async def test_an_escalated_ticket_runs_on_the_platforms_timers(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    platform = {"first_response_minutes": 90, "resolution_minutes": 900, "updated_by": "pat"}
    set_ = await api.put("/internal/platform/ticket-sla", json=platform)
    assert set_.json() == {"first_response_minutes": 90, "resolution_minutes": 900}
    opened = await open_ticket(api, shop, ticket(order_id, product_id, "other"))

    escalated = await api.post(
        f"/internal/tickets/{opened['ticket_id']}/escalation",
        json={"author": "ann", "message": "The supplier disputes the claim"},
        headers=acting_for(shop),
    )

    seen = escalated.json()
    assert (seen["level"], seen["escalated_by"], seen["escalation_due"]) == ("L3", "shop", None)
    assert at(seen["response_due"]) - at(seen["escalated_at"]) == timedelta(minutes=90)
    assert at(seen["resolution_due"]) - at(seen["escalated_at"]) == timedelta(minutes=900)
    assert (await api.put("/internal/platform/ticket-sla", json={})).status_code == 200  # back to defaults


async def sweep_together(first: Service, second: Service, now: datetime) -> None:
    """Two replicas sweep at the same moment."""

    async def sweep(service: Service) -> int:
        async with service.uow() as uow:
            return await tickets.sweep_due(uow, now)

    await asyncio.gather(sweep(first), sweep(second))


async def test_a_ticket_past_its_deadlines_is_overdue_once_then_the_platforms_with_two_replicas_sweeping(
    service: Service, api: httpx.AsyncClient, database_url: str
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    opened = await open_ticket(api, shop, ticket(order_id, product_id, "other"))
    tid, created = opened["ticket_id"], at(opened["created_at"])
    path = f"/internal/tickets/{tid}"

    async with built_service(settings_for(database_url)) as replica:  # a second replica, started afresh
        await sweep_together(service, replica, created + timedelta(hours=1))
        assert (await api.get(path, headers=acting_for(shop))).json()["overdue"] is False

        for _ in range(3):
            await sweep_together(service, replica, created + timedelta(hours=5))
        [overdue] = await emitted(service, order_id, "TicketOverdue")
        assert (overdue["level"], overdue["deadline"]) == ("L2", "response")
        late = (await api.get(path, headers=acting_for(shop))).json()
        assert (late["overdue"], late["level"]) == (True, "L2")
        listed = await api.get("/internal/tickets?overdue=true", headers=acting_for(shop))
        assert [t["ticket_id"] for t in listed.json()["items"]] == [tid]

        for _ in range(3):
            await sweep_together(service, replica, created + timedelta(hours=73))
        [escalated] = await emitted(service, order_id, "TicketEscalated")
        assert (escalated["by"], escalated["reason"]) == ("system", "sla_breached")
        moved = (await api.get(path, headers=acting_for(shop))).json()
        assert (moved["level"], moved["status"], moved["overdue"]) == ("L3", "open", False)
        assert (moved["messages"][-1]["author"], moved["messages"][-1]["author_label"]) == (
            "system", "note:sla_escalated",
        )  # fmt: skip

        await sweep_together(service, replica, created + timedelta(hours=90))
    overdue_events = await emitted(service, order_id, "TicketOverdue")
    assert [(e["level"], e["deadline"]) for e in overdue_events] == [("L2", "response"), ("L3", "response")]


async def test_an_answered_ticket_owes_nothing_until_the_buyer_writes_again(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    opened = await open_ticket(api, shop, ticket(order_id, product_id, "other"))
    tid = opened["ticket_id"]
    await api.post(
        f"/internal/tickets/{tid}/replies", json={"author": "ann", "message": "Looking"},
        headers=acting_for(shop),
    )  # fmt: skip

    async with service.uow() as uow:
        await tickets.sweep_due(uow, at(opened["created_at"]) + timedelta(days=20))

    assert await emitted(service, order_id, "TicketOverdue") == []
    assert (await api.get(f"/internal/tickets/{tid}", headers=acting_for(shop))).json()["overdue"] is False


async def test_canned_replies_are_kept_per_shop_and_language(api: httpx.AsyncClient) -> None:
    shop = uuid4()
    headers = acting_for(shop)
    english = {"language": "en", "title": "Redeem", "message": "Open Steam, then Redeem."}
    chinese = {"language": "zh-CN", "title": "Redeem", "message": "打开 Steam，点击兑换。"}
    english["updated_by"] = chinese["updated_by"] = "ann"

    first = await api.post("/internal/canned-replies", json=english, headers=headers)
    second = await api.post("/internal/canned-replies", json=chinese, headers=headers)
    taken = await api.post("/internal/canned-replies", json=english, headers=headers)

    assert (first.status_code, second.status_code, taken.status_code) == (201, 201, 409)
    assert "Redeem" in taken.json()["message"]
    listed = (await api.get("/internal/canned-replies?language=zh-CN", headers=headers)).json()["items"]
    assert [r["message"] for r in listed] == [chinese["message"]]
    rid = first.json()["canned_reply_id"]
    changed = await api.put(
        f"/internal/canned-replies/{rid}", json={**english, "message": "Open Steam > Games > Redeem."},
        headers=headers,
    )  # fmt: skip
    assert changed.json()["message"] == "Open Steam > Games > Redeem."
    gone = await api.delete(f"/internal/canned-replies/{rid}", headers=headers)
    again = await api.delete(f"/internal/canned-replies/{rid}", headers=headers)
    assert (gone.status_code, again.status_code) == (204, 404)
    assert len((await api.get("/internal/canned-replies", headers=headers)).json()["items"]) == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/internal/ticket-sla", {"first_response_minutes": 1}, "first_response_minutes"),
        ("/internal/ticket-sla", {"escalation_minutes": "soon"}, "escalation_minutes"),
        ("/internal/platform/ticket-sla", {"resolution_minutes": 10**9}, "resolution_minutes"),
    ],
)
async def test_bad_timers_are_a_422_naming_the_field(
    api: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    refused = await api.put(path, json=body, headers=acting_for(uuid4()))
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"language": "fr"}, "language"),
        ({"title": " "}, "title"),
        ({"message": "x" * (MAX_TICKET_MESSAGE + 1)}, "message"),
    ],
)
async def test_a_bad_canned_reply_is_a_422_naming_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {"language": "en", "title": "Hi", "message": "Hello", "updated_by": "ann", **change}
    refused = await api.post("/internal/canned-replies", json=body, headers=acting_for(uuid4()))
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]


async def test_the_periodic_sweep_counts_the_open_overdue_tickets_for_the_alert(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    opened = await open_ticket(api, shop, ticket(order_id, product_id, "other"))
    await tickets.sweep_all(service.uow)
    before = ticket_metrics.OVERDUE_OPEN.labels("L2")._value.get()
    async with service.runtime.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE tickets SET response_due = now() - interval '1 minute',"
                " next_due_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": UUID(opened["ticket_id"])},
        )

    await tickets.sweep_all(service.uow)

    assert ticket_metrics.OVERDUE_OPEN.labels("L2")._value.get() == before + 1
    [overdue] = await emitted(service, order_id, "TicketOverdue")
    assert overdue["deadline"] == "response"
