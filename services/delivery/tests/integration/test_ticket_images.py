"""Images on ticket messages through delivery's internal API on a real Postgres: a message and its images
are kept together and read back with the type their content showed; a file that is not an image, too big,
or one too many is a 4xx naming the limit and keeps nothing; the buyer reads only their order's images."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.http import SHOP_HEADER
from faka_common.ticket_images import MAX_IMAGE_BYTES

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
