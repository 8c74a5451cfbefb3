"""Every message added to a ticket (the buyer's that opens it, the shop's answer, the buyer's again, the
system's note on inventory's answer) is announced by a TicketMessageAdded in the outbox, with the ticket's
level and status after it and never the message's text; the notification service may read the thread."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.bootstrap import Service
from faka_common.contracts.aftersales import KeyReplaced
from faka_common.testing import as_caller

from .conftest import feed, outbox
from .test_tickets import acting_for, delivered_order, open_ticket, ticket

pytestmark = pytest.mark.integration

SECRET_TEXT = "my key QWRT-ZXCV-PLMN does not work"


async def messages_added(service: Service, order_id: UUID) -> list[dict[str, Any]]:
    return [m for m in await outbox(service, order_id) if m["type"] == "TicketMessageAdded"]


async def test_each_message_on_a_ticket_is_announced_without_its_text(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, [key_id] = await delivered_order(service, shop)
    opened = await open_ticket(
        api, shop, ticket(order_id, product_id, key_id=str(key_id), message=SECRET_TEXT)
    )
    tid = opened["ticket_id"]
    claim = next(m for m in await outbox(service, order_id) if m["type"] == "KeyReplacementRequested")
    await feed(
        service,
        KeyReplaced(
            order_id=order_id, shop_id=shop, product_id=product_id,
            claim_id=UUID(claim["payload"]["claim_id"]), ticket_id=UUID(tid), voided_key_id=key_id,
            key_id=uuid4(), batch_id=uuid4(),
        ),
    )  # fmt: skip
    await api.post(
        f"/internal/orders/{order_id}/tickets/{tid}/messages",
        json={"author": "buyer", "message": "still " + SECRET_TEXT},
        headers=acting_for(shop),
    )
    await api.post(
        f"/internal/tickets/{tid}/replies", json={"author": "ann", "message": "Try again"},
        headers=acting_for(shop),
    )  # fmt: skip

    added = await messages_added(service, order_id)

    thread = (await api.get(f"/internal/tickets/{tid}", headers=acting_for(shop))).json()
    assert [a["payload"]["message_id"] for a in added] == [m["message_id"] for m in thread["messages"]]
    seen = [(a["payload"]["author"], a["payload"]["level"], a["payload"]["status"]) for a in added]
    assert seen == [
        ("buyer", "L1", "open"),
        ("system", "L1", "resolved"),
        ("buyer", "L2", "open"),
        ("shop", "L2", "answered"),
    ]
    assert [a["payload"]["opened"] for a in added] == [True, False, False, False]
    for a in added:
        payload = a["payload"]
        facts = (payload["ticket_id"], payload["shop_id"], payload["category"])
        assert facts == (tid, str(shop), "key_invalid")
        assert payload["order_no"] == opened["order_no"]
        assert "QWRT" not in str(a)


async def test_the_notification_service_may_read_a_ticket_thread(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, _ = await delivered_order(service, shop)
    opened = await open_ticket(api, shop, ticket(order_id, product_id, "how_to_use"))
    path = f"/internal/tickets/{opened['ticket_id']}"

    as_notification = await api.get(path, headers={**acting_for(shop), **as_caller("notification")})
    as_inventory = await api.get(path, headers={**acting_for(shop), **as_caller("inventory")})

    assert as_notification.status_code == 200, as_notification.text
    assert as_notification.json()["messages"][0]["body"] == opened["messages"][0]["body"]
    assert as_inventory.status_code == 403
