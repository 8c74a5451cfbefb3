"""The client's address behind reverse proxies: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import uuid
from ipaddress import ip_network

import httpx
from faka_common.http import InternalClient
from faka_common.service_auth import ServiceCredential
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import build_gateway
from gateway.config import Settings
from gateway.domain.client_address import client_address
from gateway.entrypoints.routers import edge_app

PROXIES = [ip_network("10.0.0.0/8")]


class NoOrders(InternalClient):
    """An order service that knows no order."""

    def __init__(self) -> None:
        super().__init__("http://owner.test", ServiceCredential.development("gateway"))
        answer = httpx.Response(404, json={"error": "not_found", "message": "no order with that number"})
        self._client = httpx.AsyncClient(
            base_url="http://owner.test", transport=httpx.MockTransport(lambda request: answer)
        )


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXIES) == "203.0.113.9"
    assert client_address("203.0.113.9", ["198.51.100.1"], []) == "203.0.113.9"


def test_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    assert client_address("10.0.0.5", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    # what the client itself wrote (left of the hop our proxy appended) is never believed
    assert client_address("10.0.0.5", ["1.2.3.4, 198.51.100.1"], PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.5", ["1.2.3.4", "198.51.100.1, 10.0.0.7"], PROXIES) == "198.51.100.1"


def test_a_trusted_peer_without_or_with_a_garbled_header_is_the_last_vouched_address() -> None:
    assert client_address("10.0.0.5", [], PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", ["not-an-ip"], PROXIES) == "10.0.0.5"
    assert client_address(None, ["198.51.100.1"], PROXIES) is None


async def test_the_order_lookup_window_is_per_client_behind_a_trusted_proxy_only() -> None:
    settings = Settings(
        lookup_limit_storage_url="memory://",
        lookup_per_ip_per_minute=2,
        lookup_per_order_per_hour=100,
        trusted_proxies=["10.0.0.0/8"],  # type: ignore[list-item]
        kafka_namespace=f"unit-{uuid.uuid4().hex[:8]}",
    )
    gw = build_gateway(
        shops=KnownShops.default_only(), settings=settings, order=NoOrders(), inventory=NoOrders()
    )

    def refused_after_two(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=edge_app(gw), client=(peer, 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    async def guesses(peer: str, forwarded: str) -> list[int]:
        async with refused_after_two(peer) as client:
            return [
                (
                    await client.get(
                        f"/api/v1/orders/F2026010100000{i}AAAAAA",
                        params={"token": "guess"},
                        headers={"X-Forwarded-For": forwarded},
                    )
                ).status_code
                for i in range(3)
            ]

    # behind the ingress: each buyer has a window of their own
    assert (await guesses("10.1.2.3", "198.51.100.1"))[-1] == 429
    assert (await guesses("10.1.2.3", "198.51.100.2"))[0] != 429
    # straight from the internet: a forged header changes nothing
    assert (await guesses("203.0.113.50", "198.51.100.3"))[-1] == 429
    assert (await guesses("203.0.113.50", "198.51.100.4"))[0] == 429
    await gw.aclose()
