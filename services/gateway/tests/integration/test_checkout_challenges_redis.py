"""Checkout challenges against the real Redis at REDIS_URL: the challenge rules are published as the risk
service publishes them (`rules_key`, `challenges_document`); an order the rules challenge is a 428 with a
challenge until it carries a solved one, a solution works once, for its shop and client address only and
until it expires; below a rule's limit no challenge is asked; the storefront's form answers the same with
the challenge in the page for its script. Each with the placement's rate-limit windows kept elsewhere (in
memory) and in the checkpoint's Redis (as deployed: the checkpoint's script takes them too)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from faka_common.contracts.risk_rules import RiskRules, challenges_document, rules_key
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import Gateway, build_gateway
from gateway.config import Settings
from gateway.domain.shops import Shop
from gateway.entrypoints.routers import edge_app
from gateway.service_layer import challenges

pytestmark = pytest.mark.integration

PRODUCT_ID = "0190f3a2-7c1e-7d4b-9a8e-2f6c1b5d4e3a"
BITS = 10  # cheap to solve in a test; the rule's default is 16


def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: point it at a Redis server, e.g. redis://127.0.0.1:16379/0")
    return url


class Orders:
    """The order service: every placed order answers as placed, and is kept; while `busy`, none is placed
    (503 busy)."""

    def __init__(self) -> None:
        self.placed: list[dict[str, Any]] = []
        self.busy = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/internal/orders":
            return httpx.Response(404, json={"error": "not_found", "message": "no such route"})
        if self.busy:
            busy = {"error": "busy", "message": "too many orders waiting; try again shortly"}
            return httpx.Response(503, json=busy, headers={"Retry-After": "2"})
        self.placed.append(json.loads(request.content))
        n = len(self.placed)
        return httpx.Response(
            201,
            json={"order_no": f"F2026010100000{n:03d}", "token": f"tok{n}", "status": "pending_risk",
                  "amount": 4800, "currency": "CNY"},
        )  # fmt: skip


class Storefront:
    async def products(self, shop_id: uuid.UUID) -> list[dict[str, Any]]:
        return [{"product_id": PRODUCT_ID, "title": "Card", "price": 4800, "currency": "CNY", "active": True,
                 "stock": {"available": 9}, "delivery_type": "card_key"}]  # fmt: skip

    async def aclose(self) -> None:
        return None


class Owner(InternalClient):
    def __init__(self, handler: Orders) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        self._client = httpx.AsyncClient(base_url="http://owner.test", transport=httpx.MockTransport(handler))


class Checkout:
    """A gateway whose challenge checkpoint is at REDIS_URL under `namespace`; `settings` override its
    settings (where the placement windows are kept, their sizes), `shop_status` the default shop's."""

    def __init__(
        self, namespace: str, store: redis.Redis, shop_status: str = "active", **settings: Any
    ) -> None:
        self.namespace, self.store, self.orders = namespace, store, Orders()
        defaults: dict[str, Any] = {
            "redis_url": redis_url(),
            "kafka_namespace": namespace,
            "lookup_limit_storage_url": "memory://",
            "orders_per_ip_per_hour": 1000,
            "orders_per_email_per_hour": 1000,
            "public_base_url": "http://gateway.test/",
        }
        shop = Shop(DEFAULT_SHOP_ID, "default", "Default shop", shop_status)
        self.gateway: Gateway = build_gateway(
            Settings(**{**defaults, **settings}),
            shops=KnownShops([shop], any_host=True),
            order=Owner(self.orders),
            storefront=Storefront(),
        )
        self.app = edge_app(self.gateway)

    async def aclose(self) -> None:
        """The gateway's clients closed, and every key of the namespace (the windows' too) deleted."""
        await self.gateway.aclose()
        await challenges.checkpoint(self.gateway).aclose()
        async for key in self.store.scan_iter(match=f"*{self.namespace}*"):
            await self.store.delete(key)

    def client(self, ip: str = "203.0.113.7") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    async def publish(self, scope: str, *rules: dict[str, Any]) -> None:
        """What the risk service writes when the scope's rules change."""
        document = challenges_document(RiskRules.model_validate({"rules": list(rules)}))
        await self.store.hset(
            rules_key(self.namespace, scope), mapping={"version": 1, "challenges": document}
        )

    async def order(
        self,
        ip: str = "203.0.113.7",
        email: str = "buyer@example.com",
        solution: tuple[str, str] | None = None,
    ) -> httpx.Response:
        headers = {} if solution is None else {"X-Challenge": solution[0], "X-Challenge-Nonce": solution[1]}
        async with self.client(ip) as client:
            return await client.post(
                "/api/v1/orders", json={"product_id": PRODUCT_ID, "email": email}, headers=headers
            )


def solved(answer: httpx.Response) -> tuple[str, str]:
    """What a script does with a 428: the work, then the order again."""
    assert answer.status_code == 428, answer.text
    challenge = answer.json()["challenge"]
    assert challenge["algorithm"] == "sha256-leading-zero-bits"
    return challenge["token"], challenges.solve(challenge["token"], challenge["difficulty"])


@pytest.fixture
async def store() -> AsyncIterator[redis.Redis]:
    connection = redis.from_url(redis_url())
    yield connection
    await connection.aclose()


@pytest.fixture(
    params=["memory://", ""], ids=["placement-windows-in-memory", "placement-windows-in-checkpoint-redis"]
)
async def checkout(request: pytest.FixtureRequest, store: redis.Redis) -> AsyncIterator[Checkout]:
    """A checkout whose placement windows are in memory, or in REDIS_URL (no URL of their own)."""
    made = Checkout(f"it-{uuid.uuid4().hex[:10]}.", store, lookup_limit_storage_url=request.param)
    yield made
    await made.aclose()


async def test_a_shop_under_attack_answers_428_until_the_order_carries_a_solved_challenge(
    checkout: Checkout,
) -> None:
    await checkout.publish(str(DEFAULT_SHOP_ID), {"type": "challenge", "per": "always", "difficulty": BITS})
    asked = await checkout.order()
    assert asked.status_code == 428 and asked.json()["error"] == "challenge_required"
    assert asked.json()["challenge"]["difficulty"] == BITS and checkout.orders.placed == []
    placed = await checkout.order(solution=solved(asked))
    assert placed.status_code == 201, placed.text
    assert len(checkout.orders.placed) == 1


async def test_a_replayed_solution_is_refused_with_a_fresh_challenge(checkout: Checkout) -> None:
    await checkout.publish("platform", {"type": "challenge", "per": "always", "difficulty": BITS})
    solution = solved(await checkout.order())
    assert (await checkout.order(solution=solution)).status_code == 201
    replayed = await checkout.order(solution=solution)
    assert replayed.status_code == 428 and "used already" in replayed.json()["message"]
    assert replayed.json()["challenge"]["token"] != solution[0]
    assert len(checkout.orders.placed) == 1


async def test_a_solution_for_another_address_another_shop_or_too_late_is_refused(checkout: Checkout) -> None:
    await checkout.publish("platform", {"type": "challenge", "per": "always", "difficulty": BITS})
    elsewhere = await checkout.order(ip="198.51.100.9", solution=solved(await checkout.order()))
    assert elsewhere.status_code == 428 and "not issued here" in elsewhere.json()["message"]

    key = challenges.checkpoint(checkout.gateway).key
    other_shop = challenges.issue(key, uuid.uuid4(), "203.0.113.7", BITS)
    foreign = await checkout.order(solution=(other_shop.token, challenges.solve(other_shop.token, BITS)))
    assert foreign.status_code == 428 and "not issued here" in foreign.json()["message"]

    late = challenges.issue(key, DEFAULT_SHOP_ID, "203.0.113.7", BITS, now=1_000_000_000)
    expired = await checkout.order(solution=(late.token, challenges.solve(late.token, BITS)))
    assert expired.status_code == 428 and "expired" in expired.json()["message"]

    token = (await checkout.order()).json()["challenge"]["token"]
    unsolved = next(str(n) for n in range(100) if challenges.work(token, str(n)) < BITS)
    lazy = await checkout.order(solution=(token, unsolved))
    assert lazy.status_code == 428 and "does not solve" in lazy.json()["message"]
    assert checkout.orders.placed == []


async def test_below_the_limit_no_challenge_is_asked_and_above_it_every_order_is_challenged(
    checkout: Checkout,
) -> None:
    await checkout.publish(
        str(DEFAULT_SHOP_ID),
        {"type": "challenge", "per": "ip", "limit": 3, "window_seconds": 60, "difficulty": BITS},
        {"type": "challenge", "per": "email", "limit": 5, "window_seconds": 60, "difficulty": BITS + 2},
    )
    for i in range(3):
        assert (await checkout.order(email=f"b{i}@example.com")).status_code == 201
    fourth = await checkout.order(email="b3@example.com")
    assert fourth.status_code == 428 and fourth.json()["challenge"]["difficulty"] == BITS
    assert (await checkout.order(email="b3@example.com", solution=solved(fourth))).status_code == 201
    # another address is under its own limit; one e-mail from many addresses meets the e-mail's
    for i in range(5):
        assert (await checkout.order(ip=f"198.51.100.{i}", email="one@example.com")).status_code == 201
    by_email = await checkout.order(ip="198.51.100.200", email="one@example.com")
    assert by_email.status_code == 428 and by_email.json()["challenge"]["difficulty"] == BITS + 2


async def test_without_challenge_rules_orders_go_straight_through(checkout: Checkout) -> None:
    for _ in range(5):
        assert (await checkout.order()).status_code == 201


async def test_the_storefront_form_answers_428_with_the_challenge_for_its_script_then_takes_the_solution(
    checkout: Checkout,
) -> None:
    await checkout.publish("platform", {"type": "challenge", "per": "always", "difficulty": BITS})
    form = {"product_id": PRODUCT_ID, "email": "buyer@example.com", "quantity": "2", "locale": "en"}
    async with checkout.client() as client:
        page = await client.post("/shop/orders", data=form, headers={"Accept-Language": "en"})
        assert page.status_code == 428 and "text/html" in page.headers["content-type"]
        token = page.text.split('data-challenge="', 1)[1].split('"', 1)[0]
        assert f'data-difficulty="{BITS}"' in page.text and 'name="challenge_nonce"' in page.text
        assert 'value="buyer@example.com"' in page.text and "doing a short check" in page.text
        answer = {**form, "challenge": token, "challenge_nonce": challenges.solve(token, BITS)}
        placed = await client.post("/shop/orders", data=answer)
    assert placed.status_code == 303 and placed.headers["location"].startswith("/orders/F2026")
    assert checkout.orders.placed[0]["quantity"] == 2
