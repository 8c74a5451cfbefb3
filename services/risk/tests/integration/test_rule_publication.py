"""A rule set is published to Redis when it changes (its version for the replicas, its challenge rules for
the gateway's checkout), published again by the sweep after Redis lost it, and never replaced by an older
version; a challenge rule asks the gateway for work and leaves the risk verdict alone."""

from __future__ import annotations

import json
import os
from uuid import uuid4

import httpx
import pytest
import redis.asyncio as redis
from faka_common.contracts.risk_rules import RiskRules, rules_key
from faka_common.http import SHOP_HEADER
from risk.bootstrap import Service

from .test_rule_engine import decide, order, set_rules

pytestmark = pytest.mark.integration

CHALLENGE = {"type": "challenge", "per": "ip", "limit": 3, "window_seconds": 60, "difficulty": 18}


async def published(service: Service, scope: str) -> dict[str, str]:
    store = redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    try:
        found: dict[str, str] = await store.hgetall(
            rules_key(service.runtime.settings.kafka_namespace, scope)
        )
        return found
    finally:
        await store.aclose()


async def forget(service: Service, scope: str) -> None:
    store = redis.from_url(os.environ["REDIS_URL"])
    try:
        await store.delete(rules_key(service.runtime.settings.kafka_namespace, scope))
    finally:
        await store.aclose()


async def test_a_changed_rule_set_is_published_with_its_version_and_challenges_for_the_gateway(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    assert await published(service, str(shop)) == {}
    version = await set_rules(
        api, shop, {"type": "velocity", "per": "ip", "limit": 9, "window_seconds": 60}, CHALLENGE
    )
    found = await published(service, str(shop))
    assert found["version"] == str(version)
    assert json.loads(found["challenges"]) == [
        {"per": "ip", "limit": 3, "window_ms": 60_000, "bits": 18, "kind": "proof_of_work"}
    ]
    await set_rules(api, shop)
    assert await published(service, str(shop)) == {"version": str(version + 1), "challenges": "[]"}


async def test_the_sweep_publishes_again_what_redis_lost(service: Service, api: httpx.AsyncClient) -> None:
    shop = uuid4()
    version = await set_rules(api, shop, CHALLENGE)
    await forget(service, str(shop))
    await service.publish_rules()
    assert (await published(service, str(shop)))["version"] == str(version)


async def test_an_older_version_never_replaces_a_newer_one(service: Service, api: httpx.AsyncClient) -> None:
    shop = uuid4()
    await set_rules(api, shop, CHALLENGE)
    await set_rules(api, shop)
    await service.decider.counters.publish_rules(
        str(shop), 1, RiskRules.model_validate({"rules": [CHALLENGE]})
    )
    assert await published(service, str(shop)) == {"version": "2", "challenges": "[]"}


async def test_a_challenge_rule_leaves_the_verdict_to_the_other_rules(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "challenge", "per": "always"})
    for _ in range(3):
        assert (await decide(service, order(shop)))["verdict"] == "approve"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"type": "challenge", "per": "ip"}, "limit is required"),
        ({"type": "challenge", "per": "always", "limit": 3}, "not allowed with per always"),
        ({"type": "challenge", "per": "always", "difficulty": 40}, "difficulty"),
    ],
)
async def test_a_malformed_challenge_rule_is_refused_naming_what_is_wrong(
    api: httpx.AsyncClient, rule: dict[str, object], field: str
) -> None:
    refused = await api.put(
        "/internal/rules", json={"rules": [rule], "changed_by": "owner"}, headers={SHOP_HEADER: str(uuid4())}
    )
    assert refused.status_code == 422 and field in refused.text
