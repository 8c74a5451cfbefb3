"""Which shop a gateway request is for, and that every owner call of the request names it (X-Shop-Id)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import NotFound, Unavailable
from faka_common.http import SHOP_HEADER, InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.principals import PLATFORM_ADMIN_SECRET, KnownPrincipals
from gateway.adapters.shops import KnownShops, MerchantShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.domain.shops import Shop
from gateway.entrypoints.routers import edge_app

ADMIN = {"Authorization": f"Bearer {PLATFORM_ADMIN_SECRET}"}
CARDS = Shop(uuid.uuid4(), "game-cards", "Game Cards", "active")
PAUSED = Shop(uuid.uuid4(), "paused", "Paused Shop", "suspended")
DEFAULT = Shop(DEFAULT_SHOP_ID, "default", "Default shop", "active")
PRODUCT = {"product_id": str(uuid.uuid4()), "title": "Steam", "description": "", "price": 100,
           "currency": "CNY", "delivery_type": "card_key", "active": True, "visible": True,
           "stock": {"available": 1, "reserved": 0, "sold": 0}}  # fmt: skip


class Recorder:
    """An owner that answers enough for the routes under test and records the shop each call named."""

    def __init__(self) -> None:
        self.shops: list[str | None] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.shops.append(request.headers.get(SHOP_HEADER))
        self.paths.append(request.url.path)
        path = request.url.path
        if path == "/internal/products":
            return httpx.Response(200, json={"items": [PRODUCT]})
        if path == "/internal/orders" and request.method == "POST":
            placed = {"order_id": str(uuid.uuid4()), "order_no": "F1", "status": "pending_risk",
                      "amount": 100, "currency": "CNY", "token": "tok"}  # fmt: skip
            return httpx.Response(201, json=placed)
        if path == "/internal/orders/F1/view":
            order = {"order_id": str(uuid.uuid4()), "order_no": "F1", "status": "awaiting_payment",
                     "product_title": "Steam", "quantity": 1, "amount": 100, "currency": "CNY"}  # fmt: skip
            return httpx.Response(200, json=order)
        return httpx.Response(404, json={"error": "not_found", "message": f"nothing at {path}"})


class FakeOwner(InternalClient):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(
            base_url="http://owner.test", transport=httpx.MockTransport(recorder)
        )


class Platform:
    def __init__(self, gateway: Gateway, owners: Recorder) -> None:
        self.gateway, self.owners = gateway, owners

    def client(self, host: str = "127.0.0.1:8000") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=edge_app(self.gateway))
        return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    owners = Recorder()
    settings = Settings(lookup_limit_storage_url="memory://", kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}")
    shops = KnownShops([DEFAULT, CARDS, PAUSED], hosts={"cards.example.com": "game-cards"})
    gateway = build_gateway(
        settings,
        order=FakeOwner(owners),
        inventory=FakeOwner(owners),
        shops=shops,
        principals=KnownPrincipals.platform_admin(),
    )
    yield Platform(gateway, owners)
    await gateway.aclose()


async def test_a_shop_path_serves_that_shops_catalog_and_the_root_the_default_shops(
    platform: Platform,
) -> None:
    async with platform.client() as http:
        assert (await http.get("/s/game-cards/api/v1/products")).status_code == 200
        assert (await http.get("/api/v1/products")).status_code == 200
    assert platform.owners.shops == [str(CARDS.id), str(DEFAULT_SHOP_ID)]


async def test_a_shops_own_domain_serves_that_shop(platform: Platform) -> None:
    async with platform.client("cards.example.com") as http:
        assert (await http.get("/api/v1/products")).status_code == 200
    assert platform.owners.shops == [str(CARDS.id)]


async def test_an_unknown_slug_or_domain_is_a_404_page_or_json_and_reaches_no_owner(
    platform: Platform,
) -> None:
    async with platform.client() as http:
        api = await http.get("/s/no-such-shop/api/v1/products")
        page = await http.get("/s/no-such-shop/")
    async with platform.client("unknown.example.com") as http:
        elsewhere = await http.get("/")
    assert api.status_code == 404 and api.json()["message"] == "no shop at /s/no-such-shop"
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no shop at /s/no-such-shop" in page.text
    assert elsewhere.status_code == 404 and "no shop at unknown.example.com" in elsewhere.text
    assert platform.owners.shops == []


async def test_a_shops_front_page_without_its_slash_redirects_to_it(platform: Platform) -> None:
    async with platform.client() as http:
        answer = await http.get("/s/game-cards", follow_redirects=False)
    assert answer.status_code == 308 and answer.headers["location"] == "/s/game-cards/"


async def test_an_order_placed_in_a_shop_is_that_shops_and_its_links_lead_back_into_the_shop(
    platform: Platform,
) -> None:
    body = {"product_id": PRODUCT["product_id"], "email": "buyer@example.com"}
    async with platform.client() as http:
        placed = await http.post("/s/game-cards/api/v1/orders", json=body)
    assert placed.status_code == 201, placed.text
    assert platform.owners.shops == [str(CARDS.id)]
    assert "/s/game-cards/orders/F1?token=tok" in placed.json()["page_url"]
    assert "/s/game-cards/api/v1/orders/F1?token=tok" in placed.json()["order_url"]


async def test_a_suspended_shop_takes_no_order_and_its_page_says_it_is_closed(platform: Platform) -> None:
    body = {"product_id": PRODUCT["product_id"], "email": "buyer@example.com"}
    async with platform.client() as http:
        refused = await http.post("/s/paused/api/v1/orders", json=body)
        page = await http.get("/s/paused/", headers={"Accept-Language": "en"})
    assert refused.status_code == 409 and "suspended" in refused.json()["message"]
    assert "/internal/orders" not in platform.owners.paths
    assert page.status_code == 200 and "suspended and takes no orders" in page.text


async def test_an_order_opened_by_its_secret_is_found_across_shops_at_the_root_and_in_the_named_shop_only(
    platform: Platform,
) -> None:
    async with platform.client() as http:
        at_root = await http.get("/api/v1/orders/F1", params={"token": "tok"})
        in_shop = await http.get("/s/game-cards/api/v1/orders/F1", params={"token": "tok"})
    assert at_root.status_code == in_shop.status_code == 200
    # the root names no shop (an e-mailed link works whatever the shop); a shop path names its shop
    assert platform.owners.shops == [None, str(CARDS.id)]


async def test_an_admin_acts_for_the_shop_it_names_and_an_unknown_shop_is_a_404(platform: Platform) -> None:
    async with platform.client() as http:
        named = await http.get("/api/admin/products", headers={**ADMIN, "X-Shop-Id": str(CARDS.id)})
        default = await http.get("/api/admin/products", headers=ADMIN)
        unknown = await http.get("/api/admin/products", headers={**ADMIN, "X-Shop-Id": str(uuid.uuid4())})
        malformed = await http.get("/api/admin/products", headers={**ADMIN, "X-Shop-Id": "shop-b"})
        anonymous = await http.get("/api/admin/products", headers={"X-Shop-Id": str(CARDS.id)})
    assert named.status_code == default.status_code == 200
    assert unknown.status_code == 404 and malformed.status_code == 422
    assert anonymous.status_code == 401  # the key is checked before anything is said about a shop
    assert platform.owners.shops == [str(CARDS.id), str(DEFAULT_SHOP_ID)]


class Merchant:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("merchant down")
        self.asked.append(str(request.url.params))
        if request.url.params.get("slug") == "game-cards":
            body: dict[str, Any] = {"shop_id": str(CARDS.id), "slug": "game-cards", "name": "Game Cards",
                                    "status": "active"}  # fmt: skip
            return httpx.Response(200, content=json.dumps(body))
        return httpx.Response(404, json={"error": "not_found", "message": "no such shop"})


async def test_shops_are_asked_of_merchant_once_per_ttl_and_a_kept_answer_serves_while_it_is_down() -> None:
    merchant, now = Merchant(), [0.0]
    client = InternalClient("http://merchant.test", ServiceCredential.development("gateway"))
    client._client = httpx.AsyncClient(
        base_url="http://merchant.test", transport=httpx.MockTransport(merchant)
    )
    shops = MerchantShops(client, ttl=10, clock=lambda: now[0])
    assert (await shops.by_slug("game-cards")).id == CARDS.id
    await shops.by_slug("game-cards")
    with pytest.raises(NotFound):
        await shops.by_slug("gone")
    with pytest.raises(NotFound):
        await shops.by_slug("gone")
    assert merchant.asked == ["slug=game-cards", "slug=gone"]  # answers, and the refusal, were kept
    now[0] = 11
    merchant.down = True
    assert (await shops.by_slug("game-cards")).id == CARDS.id  # stale but better than no storefront
    with pytest.raises(Unavailable):
        await shops.by_host("never-seen.example.com")
    merchant.down = False
    await shops.by_slug("game-cards")
    assert merchant.asked[-1] == "slug=game-cards"
    await client.aclose()
