"""The buyer's after-sales tickets at the edge: the order's secret is checked (as a lookup is) before the
delivery service, which owns tickets, is asked; the key a buyer reports is named as they see it and found
among the order's keys here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from faka_common.errors import DomainError

from gateway.adapters.owners import json_body, segment
from gateway.bootstrap import Gateway
from gateway.domain.views import reveals_keys
from gateway.service_layer import buyer_secrets, edge
from gateway.service_layer.buyer_secrets import OrderSecret

#: What the buyer is shown of a ticket; the shop's people are "shop", never their accounts.
BUYER_FIELDS = ("ticket_id", "category", "status", "reason", "created_at", "updated_at", "resolved_at")


class KeyNotNamed(DomainError):
    """A key_invalid ticket must say which key of the order fails (422 naming the field `key`)."""

    status_code = 422
    code = "invalid_request"


def buyer_ticket(thread: Mapping[str, Any]) -> dict[str, Any]:
    """A ticket as its buyer sees it: what it is about, where it stands and why, and the conversation."""
    view = {name: thread.get(name) for name in BUYER_FIELDS}
    view["waiting_for"] = (
        "system" if thread.get("level") == "L1" and thread.get("status") == "open" else "shop"
    )
    view["messages"] = [
        {"author": m.get("author"), "body": m.get("body"), "created_at": m.get("created_at")}
        for m in thread.get("messages") or []
    ]
    return view


async def reported_key(gw: Gateway, order: Mapping[str, Any], key: str | None) -> UUID | None:
    """The id of the order's key the buyer names (as shown to them; one replaced since is still known by
    inventory), or the order's only key when they name none. None when the order holds no card keys to
    show (the shop looks at the ticket)."""
    if not reveals_keys(order.get("status")) or order.get("delivery_type") != "card_key":
        return None
    shop, order_id = edge.order_shop(order), segment(str(order["order_id"]))
    if key is not None:
        try:
            response = await gw.inventory.request(
                "POST", f"/internal/orders/{order_id}/keys/identify", json={"content": key}, shop=shop
            )
        except DomainError as error:
            if error.status_code != 404:
                raise
            raise KeyNotNamed("key: not a key of this order; copy it from the order page") from None
        return UUID(str(json_body(response)["key_id"]))
    held = await edge.fetch_keys(gw, order)
    keys = [str(k.get("key_id")) for k in (held or {}).get("keys", [])]
    if len(keys) != 1:
        raise KeyNotNamed(f"key: name the key that does not work (the order holds {len(keys)})")
    return UUID(keys[0])


async def open_ticket(
    gw: Gateway,
    order_no: str,
    secret: OrderSecret,
    client_ip: str | None,
    category: str,
    message: str,
    key: str | None = None,
) -> dict[str, Any]:
    """A ticket about the order whose secret the buyer holds (checked and throttled like a lookup)."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    key_id = await reported_key(gw, order, key) if category == "key_invalid" else None
    body = {
        "order_id": str(order["order_id"]),
        "order_no": str(order["order_no"]),
        "product_id": str(order["product_id"]),
        "category": category,
        "message": message,
        "key_id": str(key_id) if key_id else None,
    }
    response = await gw.delivery.request("POST", "/internal/tickets", json=body, shop=edge.order_shop(order))
    return buyer_ticket(json_body(response))


async def order_tickets(
    gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The order (as its buyer sees it) and its tickets, newest last."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    path = f"/internal/orders/{segment(str(order['order_id']))}/tickets"
    found = json_body(await gw.delivery.request("GET", path, shop=edge.order_shop(order)))
    return order, [buyer_ticket(t) for t in found.get("items", [])]


async def write_on_ticket(
    gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None, ticket_id: UUID, message: str
) -> dict[str, Any]:
    """The buyer writes again on a ticket of their order (another order's ticket is not found)."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    path = f"/internal/orders/{segment(str(order['order_id']))}/tickets/{ticket_id}/messages"
    body = {"author": "buyer", "message": message}
    response = await gw.delivery.request("POST", path, json=body, shop=edge.order_shop(order))
    return buyer_ticket(json_body(response))
