"""After-sales tickets through delivery's internal API and consumer on a real Postgres: a key reported invalid
is claimed once (a unique claim per key, also under 20 concurrent reports), inventory's answer resolves the
ticket or sends it to the shop with the reason, the shop answers and the buyer sees it; bad input is a 422
naming the field."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.bootstrap import Service
from faka_common.contracts import KeysAllocated
from faka_common.contracts.aftersales import KeyReplaced, KeyReplacementRefused
from faka_common.contracts.tickets import MAX_TICKET_MESSAGE
from faka_common.http import SHOP_HEADER

from .conftest import feed, outbox

pytestmark = pytest.mark.integration


def acting_for(shop: UUID) -> dict[str, str]:
    return {SHOP_HEADER: str(shop)}


async def delivered_order(service: Service, shop: UUID, keys: int = 1) -> tuple[UUID, UUID, list[UUID]]:
    """A card-key order of `shop` delivered with `keys` keys: (order id, product id, key ids)."""
    order_id, product_id, key_ids = uuid4(), uuid4(), [uuid4() for _ in range(keys)]
    allocated = KeysAllocated(
        order_id=order_id, shop_id=shop, product_id=product_id, key_ids=key_ids, delivery_type="card_key"
    )
    _, outcome = await feed(service, allocated)
    assert outcome == "handled"
    return order_id, product_id, key_ids


def ticket(order_id: UUID, product_id: UUID, category: str = "key_invalid", **extra: Any) -> dict[str, Any]:
    return {
        "order_id": str(order_id),
        "order_no": "F20261202000000ABCDEF",
        "product_id": str(product_id),
        "category": category,
        "message": "The key says it was already redeemed.",
        **extra,
    }


async def open_ticket(api: httpx.AsyncClient, shop: UUID, body: dict[str, Any]) -> dict[str, Any]:
    opened = await api.post("/internal/tickets", json=body, headers=acting_for(shop))
    assert opened.status_code == 201, opened.text
    found: dict[str, Any] = opened.json()
    return found


async def requests_of(service: Service, order_id: UUID) -> list[dict[str, Any]]:
    return [m for m in await outbox(service, order_id) if m["type"] == "KeyReplacementRequested"]


async def test_a_reported_key_is_claimed_once_and_the_replacement_resolves_the_ticket(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, [key_id] = await delivered_order(service, shop)

    opened = await open_ticket(api, shop, ticket(order_id, product_id, key_id=str(key_id)))

    assert (opened["level"], opened["status"], opened["reason"]) == ("L1", "open", None)
    [requested] = await requests_of(service, order_id)
    payload = requested["payload"]
    assert (payload["key_id"], payload["ticket_id"], payload["shop_id"]) == (
        str(key_id), opened["ticket_id"], str(shop),
    )  # fmt: skip
    record = (await api.get(f"/internal/deliveries/{order_id}", headers=acting_for(shop))).json()
    assert payload["delivered_at"][:19] == record["completed_at"][:19]

    new_key = uuid4()
    replaced = KeyReplaced(
        order_id=order_id, shop_id=shop, product_id=product_id, claim_id=UUID(payload["claim_id"]),
        ticket_id=UUID(opened["ticket_id"]), voided_key_id=key_id, key_id=new_key, batch_id=uuid4(),
    )  # fmt: skip
    _, first = await feed(service, replaced)
    _, again = await feed(service, replaced)  # the same fact re-emitted: the claim is done already
    assert (first, again) == ("handled", "handled")

    [seen] = (await api.get(f"/internal/orders/{order_id}/tickets", headers=acting_for(shop))).json()["items"]
    assert (seen["status"], seen["level"]) == ("resolved", "L1")
    assert [(m["author"], m["author_label"]) for m in seen["messages"]] == [
        ("buyer", "buyer"), ("system", "note:key_replaced"),
    ]  # fmt: skip
    assert seen["messages"][-1]["body"].splitlines()[1] == "A new key replaced the reported one."


async def test_twenty_concurrent_reports_of_one_key_ask_for_one_replacement(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, [key_id] = await delivered_order(service, shop)
    body = ticket(order_id, product_id, key_id=str(key_id))

    answers = await asyncio.gather(
        *(api.post("/internal/tickets", json=body, headers=acting_for(shop)) for _ in range(20))
    )

    assert [a.status_code for a in answers] == [201] * 20
    assert len(await requests_of(service, order_id)) == 1
    levels = sorted((a.json()["level"], a.json()["reason"]) for a in answers)
    assert levels == [("L1", None)] + [("L2", "key_already_reported")] * 19


async def test_a_second_report_of_a_replaced_key_goes_to_the_shop(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, [key_id] = await delivered_order(service, shop)
    await open_ticket(api, shop, ticket(order_id, product_id, key_id=str(key_id)))

    second = await open_ticket(api, shop, ticket(order_id, product_id, key_id=str(key_id)))

    assert (second["level"], second["reason"]) == ("L2", "key_already_reported")
    assert len(await requests_of(service, order_id)) == 1
    queue = (await api.get("/internal/tickets?level=L2", headers=acting_for(shop))).json()["items"]
    assert [t["ticket_id"] for t in queue] == [second["ticket_id"]]


async def test_a_refused_replacement_sends_the_ticket_to_the_shop_with_the_reason(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, [key_id] = await delivered_order(service, shop)
    opened = await open_ticket(api, shop, ticket(order_id, product_id, key_id=str(key_id)))
    [requested] = await requests_of(service, order_id)

    await feed(
        service,
        KeyReplacementRefused(
            order_id=order_id, shop_id=shop, product_id=product_id,
            claim_id=UUID(requested["payload"]["claim_id"]), ticket_id=UUID(opened["ticket_id"]),
            key_id=key_id, reason="out_of_stock", detail="no key left in the product's pool",
        ),
    )  # fmt: skip

    seen = (await api.get(f"/internal/tickets/{opened['ticket_id']}", headers=acting_for(shop))).json()
    assert (seen["level"], seen["status"], seen["reason"]) == ("L2", "open", "out_of_stock")
    assert "out_of_stock" in seen["messages"][-1]["body"]
    assert seen["messages"][-1]["author_label"] == "note:replacement_refused"  # the shop's, not the buyer's


@pytest.mark.parametrize(
    ("keys", "category", "named", "reason"),
    [
        (0, "key_invalid", False, "not_replaceable"),  # never delivered as card keys
        (2, "key_invalid", False, "no_key_named"),
        (0, "not_received", False, None),  # not delivered: nothing the system can point to
    ],
)
async def test_tickets_the_system_cannot_answer_wait_for_the_shop(
    service: Service, api: httpx.AsyncClient, keys: int, category: str, named: bool, reason: str | None
) -> None:
    shop = uuid4()
    if keys:
        order_id, product_id, _ = await delivered_order(service, shop, keys)
    else:
        order_id, product_id = uuid4(), uuid4()
    extra = {"key_id": str(uuid4())} if keys == 0 else {}

    opened = await open_ticket(api, shop, ticket(order_id, product_id, category, **extra))

    assert (opened["level"], opened["reason"]) == ("L2", reason)
    assert await requests_of(service, order_id) == []


async def test_the_shop_answers_the_buyer_sees_it_and_writing_again_reopens_it(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    opened = await open_ticket(api, shop, ticket(order_id, product_id, "how_to_use"))
    tid = opened["ticket_id"]

    how = "Redeem it in the Steam client."
    answered = await api.post(
        f"/internal/tickets/{tid}/replies", json={"author": "ann", "message": how}, headers=acting_for(shop)
    )
    assert answered.status_code == 200, answered.text
    [seen] = (await api.get(f"/internal/orders/{order_id}/tickets", headers=acting_for(shop))).json()["items"]
    assert seen["status"] == "answered"
    assert [(m["author"], m["body"]) for m in seen["messages"]][-1] == (
        "shop",
        "Redeem it in the Steam client.",
    )

    again = await api.post(
        f"/internal/orders/{order_id}/tickets/{tid}/messages",
        json={"author": "buyer", "message": "Thanks, but"},
        headers=acting_for(shop),
    )
    assert (again.json()["status"], again.json()["level"]) == ("open", "L2")
    elsewhere = await api.post(
        f"/internal/orders/{uuid4()}/tickets/{tid}/messages", json={"author": "buyer", "message": "Hi"},
        headers=acting_for(shop),
    )  # fmt: skip
    assert elsewhere.status_code == 404
    closed = await api.post(
        f"/internal/tickets/{tid}/replies", json={"author": "ann", "message": "Done", "resolve": True},
        headers=acting_for(shop),
    )  # fmt: skip
    assert closed.json()["status"] == "resolved"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "angry"}, "category"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * (MAX_TICKET_MESSAGE + 1)}, "message"),
        ({"message": "nul\x00"}, "message"),
        ({"key_id": "not-a-key"}, "key_id"),
        ({"order_id": None}, "order_id"),
    ],
)
async def test_bad_ticket_input_is_a_422_naming_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {**ticket(uuid4(), uuid4()), **change}
    refused = await api.post(
        "/internal/tickets", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]
