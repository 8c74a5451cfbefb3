"""The payment accounts a scope's blocklists name are published to Redis with its rule set (the order
service holds a paid order whose payer is in its shop's set or the platform's): replaced whole by each new
version, never by an older one, published again by the sweep after Redis lost them, and a list too long
for one Redis command is published whole."""

from __future__ import annotations

import os
from uuid import uuid4

import httpx
import pytest
import redis.asyncio as redis
from faka_common.contracts.risk_rules import RiskRules, payers_key
from risk.bootstrap import Service
from risk.service_layer import handlers

from .test_rule_engine import decide, order, set_rules

pytestmark = pytest.mark.integration


async def payers(service: Service, scope: str) -> set[str]:
    store = redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    try:
        found: set[str] = await store.smembers(payers_key(service.runtime.settings.kafka_namespace, scope))
        return found
    finally:
        await store.aclose()


async def test_a_blocklists_payment_accounts_are_published_and_replaced_by_the_next_version(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    version = await set_rules(
        api,
        shop,
        {"type": "blocklist", "payment_accounts": ["alipay:2088102177846875", "sandbox:stolen-1"]},
        {"type": "blocklist", "emails": ["x@example.com"], "payment_accounts": ["wechatpay:oUpF8u_M2pxb"]},
    )
    assert await payers(service, str(shop)) == {
        "alipay:2088102177846875",
        "sandbox:stolen-1",
        "wechatpay:oUpF8u_M2pxb",
    }
    await set_rules(api, shop, {"type": "blocklist", "payment_accounts": ["sandbox:stolen-2"]})
    assert await payers(service, str(shop)) == {"sandbox:stolen-2"}
    # a slow writer of an older version changes nothing
    old = RiskRules.model_validate({"rules": [{"type": "blocklist", "payment_accounts": ["sandbox:old"]}]})
    await service.decider.counters.publish_rules(str(shop), version, old)
    assert await payers(service, str(shop)) == {"sandbox:stolen-2"}
    await set_rules(api, shop)
    assert await payers(service, str(shop)) == set()
    # a payer list decides nothing at placement: the order is approved
    assert (await decide(service, order(shop)))["verdict"] == "approve"


async def test_payers_redis_lost_are_published_again_by_the_sweep_and_a_long_list_whole(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    accounts = [f"alipay:2088{i:012d}" for i in range(2500)]
    await set_rules(api, shop, {"type": "blocklist", "payment_accounts": accounts})
    assert await payers(service, str(shop)) == set(accounts)
    store = redis.from_url(os.environ["REDIS_URL"])
    try:
        await store.delete(payers_key(service.runtime.settings.kafka_namespace, str(shop)))
    finally:
        await store.aclose()
    await handlers.publish_rules(service.uow(), service.decider)
    assert await payers(service, str(shop)) == set(accounts)
