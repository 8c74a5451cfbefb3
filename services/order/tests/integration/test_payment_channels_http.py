"""A shop's payment channels on the order service's internal API, on real Postgres: credentials sealed at
rest (never in a column in clear, never answered), checked as the platform's own are, invisible to another
shop; bad input a 4xx naming the problem."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
from faka_common.http import SHOP_HEADER

from ..conftest import ProviderKit
from .conftest import Db, ShopCatalog, order_api

pytestmark = pytest.mark.integration

SHOP_A, SHOP_B = uuid4(), uuid4()
A, B = {SHOP_HEADER: str(SHOP_A)}, {SHOP_HEADER: str(SHOP_B)}
EPAY_KEY = "shop-a-epay-merchant-key-5d1c"
EPAY = {"url": "https://pay.shop-a.example", "pid": "2002", "key": EPAY_KEY, "type": "wxpay"}


@pytest.fixture
async def api(db: Db) -> AsyncIterator[httpx.AsyncClient]:
    async with order_api(db, ShopCatalog()) as client:
        yield client


async def test_a_shops_epay_key_is_sealed_at_rest_and_never_answered(api: httpx.AsyncClient, db: Db) -> None:
    put = await api.put("/internal/payment-channels/epay", json={"credentials": EPAY}, headers=A)
    assert put.status_code == 200, put.text
    assert put.json()["credentials"] == {
        "url": EPAY["url"], "pid": "2002", "type": "wxpay", "key_set": True,
    }  # fmt: skip
    listed = await api.get("/internal/payment-channels", headers=A)
    assert listed.status_code == 200, listed.text
    [channel] = listed.json()["items"]
    assert channel["provider"] == "epay" and channel["enabled"] is True
    assert EPAY_KEY not in listed.text and EPAY_KEY not in put.text
    [stored] = await db.fetch("SELECT * FROM payment_channels")
    assert stored["shop_id"] == SHOP_A
    in_clear = " ".join(str(value) for value in stored.values()).encode() + bytes(stored["sealed"])
    assert EPAY_KEY.encode() not in in_clear
    assert json.loads(stored["shown"]) == {
        "url": EPAY["url"],
        "pid": "2002",
        "type": "wxpay",
        "key_set": True,
    }


async def test_another_shops_channel_is_invisible_and_cannot_be_removed(
    api: httpx.AsyncClient, db: Db
) -> None:
    await api.put("/internal/payment-channels/epay", json={"credentials": EPAY}, headers=A)
    assert (await api.get("/internal/payment-channels", headers=B)).json() == {"items": []}
    refused = await api.delete("/internal/payment-channels/epay", headers=B)
    assert refused.status_code == 404
    assert len(await db.fetch("SELECT 1 FROM payment_channels WHERE shop_id = $1", SHOP_A)) == 1
    removed = await api.delete("/internal/payment-channels/epay", headers=A)
    assert removed.status_code == 204
    assert await db.fetch("SELECT 1 FROM payment_channels") == []


async def test_putting_again_replaces_the_credentials_and_can_disable(api: httpx.AsyncClient) -> None:
    await api.put("/internal/payment-channels/epay", json={"credentials": EPAY}, headers=A)
    again = {"enabled": False, "credentials": {**EPAY, "pid": "3003"}}
    put = await api.put("/internal/payment-channels/epay", json=again, headers=A)
    assert put.status_code == 200, put.text
    [channel] = (await api.get("/internal/payment-channels", headers=A)).json()["items"]
    assert channel["enabled"] is False and channel["credentials"]["pid"] == "3003"


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("epay", {"credentials": {**EPAY, "key": ""}}, "credentials.key"),
        ("epay", {"credentials": {**EPAY, "url": "ftp://pay.example"}}, "credentials.url"),
        ("epay", {"credentials": {**EPAY, "secret": "x"}}, "credentials.secret"),
        ("epay", {"credentials": {"secret": "x"}}, "credentials.url"),
        ("epay", {"enabled": "maybe", "credentials": EPAY}, "enabled"),
        ("alipay", {"credentials": {"app_id": "1", "private_key": "nope", "public_key": "nope"}}, "alipay"),
        ("wechatpay", {"credentials": {"appid": "a"}}, "credentials.mchid"),
    ],
)
async def test_bad_credentials_are_refused_with_a_4xx_naming_the_problem(
    api: httpx.AsyncClient, db: Db, path: str, body: dict[str, object], says: str
) -> None:
    refused = await api.put(f"/internal/payment-channels/{path}", json=body, headers=A)
    assert refused.status_code == 422, refused.text
    assert says in refused.text
    assert await db.fetch("SELECT 1 FROM payment_channels") == []


async def test_alipay_keys_readable_as_the_platforms_are_accepted(api: httpx.AsyncClient) -> None:
    kit = ProviderKit()
    credentials = kit.alipay_credentials()
    put = await api.put("/internal/payment-channels/alipay", json={"credentials": credentials}, headers=A)
    assert put.status_code == 200, put.text
    assert put.json()["credentials"]["private_key_set"] is True
    assert credentials["private_key"] not in put.text


async def test_a_provider_the_platform_does_not_know_is_refused(api: httpx.AsyncClient) -> None:
    unknown = await api.put("/internal/payment-channels/paypal", json={"credentials": {}}, headers=A)
    assert unknown.status_code == 404
    assert (await api.delete("/internal/payment-channels/paypal", headers=A)).status_code == 404


async def test_the_sandbox_is_a_channel_only_where_the_sandbox_is_enabled(db: Db) -> None:
    kit = ProviderKit()
    body = {"credentials": {"secret": "shop-sandbox-secret"}}
    async with order_api(db, ShopCatalog()) as on:
        assert (await on.put("/internal/payment-channels/sandbox", json=body, headers=A)).status_code == 200
    settings = {"payment_providers": ["epay"], **kit.epay_settings()}
    async with order_api(db, ShopCatalog(), **settings) as off:
        refused = await off.put("/internal/payment-channels/sandbox", json=body, headers=B)
    assert refused.status_code == 409 and "sandbox" in refused.json()["message"]
