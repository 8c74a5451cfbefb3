"""Two shops sell at the same time, end to end over the gateway, each with its own catalog and its own e-mail
sender (one of them through its own SMTP server): several buyers of each buy at once, and every buyer gets
exactly one delivery e-mail, From their shop's sender, holding a key of their own shop's; nothing crosses.

The whole platform runs as real processes (tests/integration/e2e_platform.py) with real Postgres, Kafka,
Redis and two real SMTP servers: the platform's and the second shop's own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from faka_common.testing import eventually

from .e2e_platform import Mailbox, Platform, body_text, free_port, running_platform
from .test_shops import buy, open_shop, stocked_product

pytestmark = pytest.mark.integration

BUYERS_PER_SHOP = 4


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


@pytest.fixture(scope="module")
def shop_smtp() -> Iterator[tuple[Mailbox, int]]:
    """The second shop's own mail server."""
    mailbox, port = Mailbox(), free_port()
    server = Controller(mailbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        yield mailbox, port
    finally:
        server.stop()


async def set_channels(platform: Platform, shop_id: str, settings: dict[str, Any]) -> None:
    async with platform.admin() as admin:
        put = await admin.put("/api/admin/shop-channels", json=settings, headers={"X-Shop-Id": shop_id})
        read = await admin.get("/api/admin/shop-channels", headers={"X-Shop-Id": shop_id})
    assert put.status_code == 200, put.text
    assert read.status_code == 200 and read.json()["from_address"] == settings["from_address"], read.text


def sender(message: Message) -> tuple[str, str]:
    name, address = parseaddr(str(message["From"]))
    return str(make_header(decode_header(name))), address


async def test_two_shops_sell_at_once_and_every_buyer_gets_one_email_from_their_shop_with_its_key(
    platform: Platform, shop_smtp: tuple[Mailbox, int]
) -> None:
    own_mailbox, own_port = shop_smtp
    tea, games = await asyncio.gather(open_shop(platform, "Tea Cards"), open_shop(platform, "Game Cards"))
    await set_channels(
        platform,
        tea["shop_id"],
        {"from_name": "Tea Cards 茶卡", "from_address": "sales@tea.example", "reply_to": "help@tea.example"},
    )
    await set_channels(
        platform,
        games["shop_id"],
        {
            "from_address": "orders@games.example",
            "smtp": {"host": "127.0.0.1", "port": own_port, "security": "none"},
        },
    )
    shops = {
        "tea": (tea, [f"TEA-{uuid.uuid4().hex[:12]}" for _ in range(BUYERS_PER_SHOP)]),
        "games": (games, [f"GAME-{uuid.uuid4().hex[:12]}" for _ in range(BUYERS_PER_SHOP)]),
    }
    products = {
        name: await stocked_product(platform, shop["shop_id"], f"{shop['name']} card", keys)
        for name, (shop, keys) in shops.items()
    }
    buyers = [
        (name, f"{name}-{i}-{uuid.uuid4().hex[:6]}@buyers.example")
        for i in range(BUYERS_PER_SHOP)
        for name in shops
    ]

    orders = await asyncio.gather(
        *(buy(platform, f"/s/{shops[name][0]['slug']}", products[name], email) for name, email in buyers)
    )

    def emails_to(address: str) -> list[Message]:
        return platform.mailbox.to(address) + own_mailbox.to(address)

    async def everyone_emailed() -> bool:
        return all(emails_to(email) for _, email in buyers)

    await eventually(everyone_emailed, timeout=60)
    expected_sender = {
        "tea": ("Tea Cards 茶卡", "sales@tea.example"),
        "games": ("Game Cards", "orders@games.example"),
    }
    sold: dict[str, set[str]] = {name: set() for name in shops}
    for (name, email), order in zip(buyers, orders, strict=True):
        [item] = order["items"]
        key = item["content"]
        own_keys = shops[name][1]
        other_keys = [k for other, (_, keys) in shops.items() if other != name for k in keys]
        assert key in own_keys, f"{email} of {name} got {key}"
        sold[name].add(key)

        [mail] = emails_to(email)  # exactly one e-mail
        text = body_text(mail)
        assert sender(mail) == expected_sender[name]
        assert key in text and order["order_no"] in str(mail["Subject"]) + text
        assert not any(k in text for k in other_keys)
        # the games shop's e-mails went through its own server, the tea shop's through the platform's
        assert (mail in own_mailbox.to(email)) == (name == "games")
    assert sold == {name: set(keys) for name, (_, keys) in shops.items()}  # each key sold once
    tea_mail = platform.mailbox.to(buyers[0][1])[0]
    assert str(tea_mail["Reply-To"]) == "help@tea.example"
