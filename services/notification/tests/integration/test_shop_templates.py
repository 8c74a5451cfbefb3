"""A shop's own wording of its buyers' e-mails through the internal API: the delivery e-mail a buyer gets at a
real SMTP sink (aiosmtpd) carries the shop's subject and text with the key where the shop's marker stands;
another shop's e-mail keeps the default; a reset brings the default back; a refused wording (unknown
placeholder, syntax error, over the limit, the sandbox's refusal) is a 422 naming it and stores nothing.

Postgres and SMTP are real; inventory's key lookup is an in-memory fake. Needs DATABASE_URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.http import create_app
from notification.bootstrap import Service
from notification.entrypoints.http import router

from .test_channels import Mailbox, _rows, database, smtp
from .test_email import FakeKeys
from .test_shop_channels import as_shop
from .test_shop_voice import SOLD_KEY, delivered_email, said, service

pytestmark = pytest.mark.integration
__all__ = ["database", "service", "smtp"]

PATH = "/internal/shop-templates/order_delivered/en"
OWN = {
    "subject": "A's parcel {{ order_no }} is here",
    "body": "Thanks from shop A for {{ product_title }}!\n\n[[goods]]\n\nSee you, {{ signature }}\n",
    "changed_by": "owner@a.example",
}


@pytest.fixture
async def api(service: tuple[Service, FakeKeys]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service[0].runtime, [router(service[0])], title="test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification.test") as client:
        yield client


async def stored(database: str, shop: UUID) -> list[tuple[str, str, str]]:
    rows = await _rows(
        database, "SELECT template, language, subject FROM shop_templates WHERE shop_id = $1", shop
    )
    return [(r["template"], r["language"], r["subject"]) for r in rows]


async def test_a_shops_own_subject_and_text_reach_its_buyer_with_the_key_and_another_shop_keeps_the_default(
    service: tuple[Service, FakeKeys], api: httpx.AsyncClient, smtp: tuple[Mailbox, int], database: str
) -> None:
    made, keys = service
    shop_a, shop_b = uuid4(), uuid4()
    put = await api.put(PATH, json=OWN, headers=as_shop(shop_a))
    assert put.status_code == 200, put.text
    assert put.json()["own"]["updated_by"] == "owner@a.example"

    subject, text, html = said(await delivered_email(made, keys, smtp[0], shop_a))
    text = text.replace("\r\n", "\n")
    assert subject.startswith("A's parcel F") and subject.endswith(" is here")
    assert text.startswith("Thanks from shop A for Voice Licence!\n\n")
    assert SOLD_KEY in text and SOLD_KEY in html
    assert text.index(SOLD_KEY) < text.index("See you")  # where the marker stood

    other, other_text, _ = said(await delivered_email(made, keys, smtp[0], shop_b))
    assert other.startswith("Your order ") and "Thanks from shop A" not in other_text
    assert SOLD_KEY in other_text

    cache = made.notifier.shop_templates
    assert cache is not None
    reads = cache.reads
    said(await delivered_email(made, keys, smtp[0], shop_a))
    assert cache.reads == reads, "a second e-mail of the shop read its wording again"

    reset = await api.delete(PATH, headers=as_shop(shop_a))
    assert reset.status_code == 200 and reset.json()["own"] is None, reset.text
    assert await stored(database, shop_a) == []
    back, _, _ = said(await delivered_email(made, keys, smtp[0], shop_a))
    assert back.startswith("Your order ")


REFUSALS: dict[str, tuple[dict[str, str], str]] = {
    "a key as a placeholder": (
        {"body": "{% for k in keys %}{{ k }}{% endfor %}"},
        "unknown placeholder keys",
    ),
    "a link as a placeholder": ({"subject": "{{ order_url }}"}, "subject: unknown placeholder order_url"),
    "a syntax error": ({"body": "Hello\n\n{% if order_no %}no end\n"}, "body: line 3"),
    "a body over the limit": ({"body": "x" * 10_001}, "at most 10000 characters"),
    "a subject over the limit": ({"subject": "x" * 201}, "at most 200 characters"),
    "the marker twice": ({"body": "[[goods]] and [[goods]]"}, "marker [[goods]] may stand once"),
    "the sandbox's refusal": ({"body": "{{ order_no.__class__.__mro__ }}"}, "body: cannot be rendered"),
}


async def test_a_refused_wording_is_a_422_naming_why_and_stores_nothing(
    api: httpx.AsyncClient, database: str
) -> None:
    shop = uuid4()
    for case, (change, reason) in REFUSALS.items():
        refused = await api.put(PATH, json={**OWN, **change}, headers=as_shop(shop))
        assert refused.status_code == 422, (case, refused.text)
        assert reason in refused.json()["message"], (case, refused.text)
    unknown = await api.put("/internal/shop-templates/low_stock/en", json=OWN, headers=as_shop(shop))
    assert unknown.status_code == 422 and "template" in unknown.json()["message"]
    assert await stored(database, shop) == []
    listed = (await api.get("/internal/shop-templates", headers=as_shop(shop))).json()["items"]
    assert all(item["own"] is None for item in listed)


async def test_the_list_shows_each_wordable_email_with_its_default_and_a_preview_fills_samples(
    api: httpx.AsyncClient,
) -> None:
    shop = uuid4()
    listed = (await api.get("/internal/shop-templates", headers=as_shop(shop))).json()["items"]
    entries: dict[tuple[str, str], dict[str, Any]] = {(i["template"], i["language"]): i for i in listed}
    delivered = entries["order_delivered", "zh-CN"]
    assert delivered["marker"] == "[[goods]]" and "[[goods]]" in delivered["default"]["body"]
    assert "keys" not in delivered["placeholders"] and "order_no" in delivered["placeholders"]
    assert {"order_link", "ticket_reply", "order_refunded", "key_replaced"} <= {t for t, _ in entries}
    shown = await api.post(
        f"{PATH}/preview", json={k: OWN[k] for k in ("subject", "body")}, headers=as_shop(shop)
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["subject"] == "A's parcel F20261202SAMPLE is here"
    assert "SAMPLE-KEY-0000-0001" in shown.json()["text"] and "SAMPLE-KEY" in shown.json()["html"]
