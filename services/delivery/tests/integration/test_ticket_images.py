"""Images on ticket messages through delivery's internal API on a real Postgres: a message and its images
are kept together and read back with the type their content showed; a file that is not an image, too big,
or one too many is a 4xx naming the limit and keeps nothing; the buyer reads only their order's images; the
images of a ticket closed longer than the retention are removed once, however many replicas sweep, and its
thread says which."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.bootstrap import Service
from delivery.service_layer import attachments
from faka_common.http import SHOP_HEADER
from faka_common.ticket_images import MAX_IMAGE_BYTES
from sqlalchemy import text

from .conftest import built_service, settings_for

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def acting_for(shop: UUID) -> dict[str, str]:
    return {SHOP_HEADER: str(shop)}


def form(message: dict[str, Any], *images: tuple[str, bytes, str]) -> dict[str, Any]:
    return {
        "files": [("message", (None, json.dumps(message), "application/json"))]
        + [("image", image) for image in images]
    }


def new_ticket(order_id: UUID) -> dict[str, Any]:
    return {
        "order_id": str(order_id),
        "order_no": "F20261202000000IMAGES",
        "product_id": str(uuid4()),
        "category": "other",
        "message": "The screen shows this.",
    }


async def opened_with(api: httpx.AsyncClient, shop: UUID, order_id: UUID, *images: Any) -> httpx.Response:
    return await api.post(
        "/internal/tickets/with-images", headers=acting_for(shop), **form(new_ticket(order_id), *images)
    )


async def test_a_ticket_opened_with_images_keeps_them_on_its_first_message_with_the_type_read_from_content(
    api: httpx.AsyncClient,
) -> None:
    shop, order_id = uuid4(), uuid4()
    opened = await opened_with(
        api, shop, order_id, ("shot.jpg", PNG, "image/jpeg"), ("../../etc/photo.png", JPEG, "text/html")
    )
    assert opened.status_code == 201, opened.text
    [first] = opened.json()["messages"]
    shown = [(a["name"], a["media_type"], a["size"]) for a in first["attachments"]]
    assert shown == [("shot.jpg", "image/png", len(PNG)), ("photo.png", "image/jpeg", len(JPEG))]

    ticket_id = opened.json()["ticket_id"]
    listed = (await api.get(f"/internal/orders/{order_id}/attachments", headers=acting_for(shop))).json()
    first_id = listed["items"][0]["attachment_id"]
    image = await api.get(
        f"/internal/tickets/{ticket_id}/attachments/{first_id}",
        params={"order_id": str(order_id)},
        headers=acting_for(shop),
    )
    assert (image.status_code, image.headers["content-type"], image.content) == (200, "image/png", PNG)
    elsewhere = await api.get(
        f"/internal/tickets/{ticket_id}/attachments/{first_id}",
        params={"order_id": str(uuid4())},
        headers=acting_for(shop),
    )
    assert elsewhere.status_code == 404
    other_shop = await api.get(
        f"/internal/tickets/{ticket_id}/attachments/{first_id}", headers=acting_for(uuid4())
    )
    assert other_shop.status_code == 404


async def test_the_shop_and_the_buyer_answer_with_images_on_their_own_message(api: httpx.AsyncClient) -> None:
    shop, order_id = uuid4(), uuid4()
    ticket_id = (await opened_with(api, shop, order_id)).json()["ticket_id"]

    answered = await api.post(
        f"/internal/tickets/{ticket_id}/replies/with-images",
        headers=acting_for(shop),
        **form({"author": "ann", "message": "Like this?"}, ("a.png", PNG, "image/png")),
    )
    again = await api.post(
        f"/internal/orders/{order_id}/tickets/{ticket_id}/messages/with-images",
        headers=acting_for(shop),
        **form({"author": "buyer", "message": "No, this"}, ("b.jpg", JPEG, "image/jpeg")),
    )

    assert answered.status_code == again.status_code == 200, (answered.text, again.text)
    thread = again.json()
    assert [(m["author"], len(m["attachments"])) for m in thread["messages"]] == [
        ("buyer", 0), ("shop", 1), ("buyer", 1),
    ]  # fmt: skip
    assert thread["status"] == "open"


@pytest.mark.parametrize(
    ("images", "status", "named"),
    [
        ([("page.png", b"<html><script>alert(1)</script></html>", "image/png")], 415, "PNG, JPEG or WebP"),
        ([("big.png", PNG + b"\x00" * MAX_IMAGE_BYTES, "image/png")], 413, "2 MB per image"),
        ([(f"{n}.png", PNG, "image/png") for n in range(4)], 422, "3 per message"),
    ],
)
async def test_a_non_image_a_too_big_one_or_one_too_many_is_a_4xx_naming_the_limit_and_keeps_nothing(
    api: httpx.AsyncClient, images: list[tuple[str, bytes, str]], status: int, named: str
) -> None:
    shop, order_id = uuid4(), uuid4()
    refused = await opened_with(api, shop, order_id, *images)
    assert refused.status_code == status, refused.text
    assert named in refused.json()["message"]
    listed = await api.get(f"/internal/orders/{order_id}/tickets", headers=acting_for(shop))
    assert listed.json()["items"] == []


async def closed_with_images(api: httpx.AsyncClient, shop: UUID) -> tuple[str, datetime]:
    """A ticket opened with two images and closed by the shop: (its id, when it was closed)."""
    images = (("a.png", PNG, "image/png"), ("b.jpg", JPEG, "image/jpeg"))
    opened = await opened_with(api, shop, uuid4(), *images)
    ticket_id = opened.json()["ticket_id"]
    closed = await api.post(
        f"/internal/tickets/{ticket_id}/replies",
        json={"author": "ann", "message": "Solved", "resolve": True},
        headers=acting_for(shop),
    )
    assert closed.status_code == 200, closed.text
    return ticket_id, datetime.fromisoformat(closed.json()["resolved_at"])


async def test_images_of_a_ticket_closed_past_the_retention_go_once_with_two_replicas_and_the_thread_says_so(
    service: Service, api: httpx.AsyncClient, database_url: str
) -> None:
    shop = uuid4()
    old, closed_at = await closed_with_images(api, shop)
    recent, _ = await closed_with_images(api, shop)
    still_open = (await opened_with(api, shop, uuid4(), ("c.png", PNG, "image/png"))).json()["ticket_id"]
    async with service.uow() as uow:  # the recent one was closed ten days after the old one
        await uow.session.execute(
            text("UPDATE tickets SET resolved_at = :at WHERE id = :id"),
            {"at": closed_at + timedelta(days=10), "id": UUID(recent)},
        )
        await uow.commit()

    async def sweep(replica: Service) -> int:
        async with replica.uow() as uow:
            return await attachments.remove_old_images(uow, closed_at + timedelta(days=181), days=180)

    async with built_service(settings_for(database_url)) as second:
        swept = await asyncio.gather(sweep(service), sweep(second), sweep(service))
    assert sorted(swept) == [0, 0, 1]

    async def images_of(ticket_id: str) -> list[str]:
        found = await api.get(f"/internal/tickets/{ticket_id}/attachments", headers=acting_for(shop))
        return [image["name"] for image in found.json()["items"]]

    thread = (await api.get(f"/internal/tickets/{old}", headers=acting_for(shop))).json()
    assert (thread["status"], await images_of(old)) == ("resolved", [])
    notes = [m["body"] for m in thread["messages"] if m["author_label"] == "note:images_removed"]
    removed = "closed more than 180 days ago; its images were removed: a.png, b.jpg"
    assert len(notes) == 1 and removed in notes[0]
    assert (await images_of(recent), await images_of(still_open)) == (["a.png", "b.jpg"], ["c.png"])
