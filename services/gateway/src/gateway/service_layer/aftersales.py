"""The buyer's after-sales tickets at the edge: the order's secret is checked (as a lookup is) before the
delivery service, which owns tickets, is asked; the key a buyer reports is named as they see it and found
among the order's keys here. A message may carry images (faka_common.ticket_images); each is read back
through the gateway with the type its content showed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from faka_common.contracts.tickets import MAX_TICKET_MESSAGE, buyer_note
from faka_common.errors import DomainError
from faka_common.ticket_images import Image, images_form

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


def buyer_ticket(
    thread: Mapping[str, Any], images: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A ticket as its buyer sees it: what it is about, where it stands and why, and the conversation with
    each message's images (`images`: the order's, when the thread does not carry them). Of the system's
    messages only its answers and the notes a buyer sees (BUYER_NOTES, named by `note`) are kept: the others
    are the shop's."""
    view = {name: thread.get(name) for name in BUYER_FIELDS}
    level, status = thread.get("level"), thread.get("status")
    view["waiting_for"] = (
        "system" if level == "L1" and status == "open" else "platform" if level == "L3" else "shop"
    )
    view["messages"] = [
        {
            "author": m.get("author"),
            "body": m.get("body"),
            "created_at": m.get("created_at"),
            # the system's answer to the ticket (a rule's: usage, where the key is), not one of its notes
            "answer": m.get("author") == "system" and m.get("author_label") == "answer",
            "note": buyer_note(m.get("author"), m.get("author_label")),
            "attachments": [
                image_view(a)
                for a in (
                    m.get("attachments")
                    if images is None
                    else [i for i in images if i.get("message_id") == m.get("message_id")]
                )
                or []
            ],
        }
        for m in thread.get("messages") or []
        if m.get("author") != "system"
        or m.get("author_label") == "answer"
        or buyer_note(m.get("author"), m.get("author_label"))
    ]
    return view


def image_view(image: Mapping[str, Any]) -> dict[str, Any]:
    return {name: image.get(name) for name in ("attachment_id", "media_type", "size", "name")}


async def post_message(
    gw: Gateway, path: str, body: dict[str, Any], images: Sequence[Image], shop: Any
) -> dict[str, Any]:
    """A message to delivery: JSON, or with images the same body as a form at `path`/with-images."""
    if not images:
        return json_body(await gw.delivery.request("POST", path, json=body, shop=shop))
    content, media_type = images_form(body, images)
    response = await gw.delivery.request(
        "POST", f"{path}/with-images", content=content, headers={"Content-Type": media_type}, shop=shop
    )
    return json_body(response)


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


async def usage_instructions(gw: Gateway, order: Mapping[str, Any]) -> str | None:
    """The product's usage instructions, which answer a "how to use" ticket at once (None: none kept)."""
    path = f"/internal/products/{segment(str(order['product_id']))}"
    try:
        product = json_body(await gw.inventory.request("GET", path, shop=edge.order_shop(order)))
    except DomainError as error:
        if error.status_code != 404:
            raise
        return None
    found = str(product.get("usage_instructions") or "").strip() if isinstance(product, dict) else ""
    return found[:MAX_TICKET_MESSAGE] or None


async def open_ticket(
    gw: Gateway,
    order_no: str,
    secret: OrderSecret,
    client_ip: str | None,
    category: str,
    message: str,
    key: str | None = None,
    images: Sequence[Image] = (),
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
        "usage_instructions": await usage_instructions(gw, order) if category == "how_to_use" else None,
    }
    return buyer_ticket(await post_message(gw, "/internal/tickets", body, images, edge.order_shop(order)))


async def order_tickets(
    gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The order (as its buyer sees it) and its tickets, newest last."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    path = f"/internal/orders/{segment(str(order['order_id']))}"
    found = json_body(await gw.delivery.request("GET", f"{path}/tickets", shop=edge.order_shop(order)))
    items = found.get("items", [])
    images: list[dict[str, Any]] = []
    if items:
        answer = await gw.delivery.request("GET", f"{path}/attachments", shop=edge.order_shop(order))
        images = json_body(answer).get("items", [])
    return order, [buyer_ticket(t, images) for t in items]


async def write_on_ticket(
    gw: Gateway,
    order_no: str,
    secret: OrderSecret,
    client_ip: str | None,
    ticket_id: UUID,
    message: str,
    images: Sequence[Image] = (),
) -> dict[str, Any]:
    """The buyer writes again on a ticket of their order (another order's ticket is not found)."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    path = f"/internal/orders/{segment(str(order['order_id']))}/tickets/{ticket_id}/messages"
    body = {"author": "buyer", "message": message}
    return buyer_ticket(await post_message(gw, path, body, images, edge.order_shop(order)))


async def escalate_ticket(
    gw: Gateway, order_no: str, secret: OrderSecret, client_ip: str | None, ticket_id: UUID, message: str
) -> dict[str, Any]:
    """The buyer takes a ticket of their order to the platform (L3, a dispute with the shop), saying why;
    409 when it is with the platform already (another order's ticket is not found)."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    path = f"/internal/orders/{segment(str(order['order_id']))}/tickets/{ticket_id}/escalation"
    sent = {"author": "buyer", "message": message}
    answer = await gw.delivery.request("POST", path, json=sent, shop=edge.order_shop(order))
    return buyer_ticket(json_body(answer))


async def ticket_image(
    gw: Gateway,
    order_no: str,
    secret: OrderSecret,
    client_ip: str | None,
    ticket_id: UUID,
    attachment_id: UUID,
) -> tuple[bytes, str]:
    """An image of a ticket of the buyer's order: its bytes and media type (another order's: not found)."""
    order = await buyer_secrets.order_for(gw, order_no, secret, client_ip)
    response = await gw.delivery.request(
        "GET",
        f"/internal/tickets/{ticket_id}/attachments/{attachment_id}",
        params={"order_id": str(order["order_id"])},
        shop=edge.order_shop(order),
    )
    return response.content, response.headers.get("content-type", "")
