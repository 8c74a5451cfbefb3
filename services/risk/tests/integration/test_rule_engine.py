"""The rule engine against the real Postgres and Redis, fed as Kafka would feed it: velocity windows,
unpaid-order limits (anti-hoarding), the amount review and its queue, rule changes without a restart, and
bad rule sets refused whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts import OrderCancelled, OrderPaid, OrderPlaced, OrderRejected
from faka_common.http import SHOP_HEADER
from risk.bootstrap import Service
from risk.service_layer import handlers

from .conftest import emitted, feed

pytestmark = pytest.mark.integration


def order(
    shop: UUID,
    ip: str | None = "198.51.100.7",
    email: str = "buyer@example.com",
    amount: int = 1000,
    product: UUID | None = None,
    phone: str | None = None,
    device: str | None = None,
) -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid4(),
        shop_id=shop,
        order_no=f"F{uuid4().hex[:10]}",
        product_id=product or uuid4(),
        product_title="Card",
        quantity=1,
        amount=amount,
        currency="CNY",
        buyer_email=email,
        buyer_ip=ip,
        buyer_phone=phone,
        device_id=device,
    )


async def set_rules(api: httpx.AsyncClient, shop: UUID, *rules: dict[str, Any], **extra: Any) -> int:
    body = {"rules": list(rules), "changed_by": "owner@shop.example", **extra}
    response = await api.put("/internal/rules", json=body, headers={SHOP_HEADER: str(shop)})
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


async def decisions(service: Service, placed: OrderPlaced) -> list[dict[str, Any]]:
    return [m["payload"] for m in await emitted(service, placed.order_id) if m["type"] == "RiskDecided"]


async def decide(service: Service, placed: OrderPlaced) -> dict[str, Any]:
    assert await feed(service, placed) == "handled"
    return (await decisions(service, placed))[0]


def paid(placed: OrderPlaced, amount: int | None = None) -> OrderPaid:
    return OrderPaid(
        order_id=placed.order_id,
        shop_id=placed.shop_id,
        order_no=placed.order_no,
        product_id=placed.product_id,
        quantity=1,
        amount=placed.amount if amount is None else amount,
        currency="CNY",
        provider="sandbox",
        trade_no=f"T{uuid4().hex[:8]}",
        paid_at=datetime.now(UTC),
    )


async def test_fifty_orders_from_one_address_against_a_limit_of_five_let_five_through_and_name_the_rule(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    version = await set_rules(api, shop, {"type": "velocity", "per": "ip", "limit": 5, "window_seconds": 60})
    verdicts = [await decide(service, order(shop, email=f"b{i}@example.com")) for i in range(50)]

    assert [v["verdict"] for v in verdicts] == ["approve"] * 5 + ["reject"] * 45
    for rejected in verdicts[5:]:
        assert rejected["fired"] == ["shop.velocity[0]"] and rejected["rules_version"] == version
        assert rejected["reasons"] == ["shop.velocity[0]: more than 5 orders per ip in 60 s"]


async def test_the_same_from_fifty_addresses_but_one_email_fires_the_email_limit(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(
        api,
        shop,
        {"type": "velocity", "per": "ip", "limit": 5, "window_seconds": 60},
        {"type": "velocity", "per": "email", "limit": 5, "window_seconds": 60},
    )
    verdicts = [
        await decide(service, order(shop, ip=f"203.0.113.{i}", email="Same@Example.com")) for i in range(50)
    ]
    assert [v["verdict"] for v in verdicts] == ["approve"] * 5 + ["reject"] * 45
    assert {tuple(v["fired"]) for v in verdicts[5:]} == {("shop.velocity[1]",)}


async def test_orders_placed_at_once_from_one_address_never_get_more_than_the_limit_through(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "velocity", "per": "ip", "limit": 5, "window_seconds": 60})
    placed = [order(shop, email=f"c{i}@example.com") for i in range(20)]
    await asyncio.gather(*(feed(service, p) for p in placed))
    verdicts = [(await decisions(service, p))[0]["verdict"] for p in placed]
    assert verdicts.count("approve") == 5 and verdicts.count("reject") == 15


async def test_a_script_holding_stock_is_refused_its_third_unpaid_order_while_real_buyers_still_buy(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop, product = uuid4(), uuid4()
    await set_rules(api, shop, {"type": "unpaid_orders", "per": "ip", "limit": 2})
    script = [order(shop, ip="192.0.2.66", email=f"bot{i}@example.com", product=product) for i in range(20)]
    verdicts = [(await decide(service, p))["verdict"] for p in script]
    buyer = await decide(service, order(shop, ip="192.0.2.1", email="real@example.com", product=product))

    assert verdicts == ["approve", "approve"] + ["reject"] * 18
    assert buyer["verdict"] == "approve"
    # order tells risk when the script's first orders end unpaid or paid: each frees a place
    await feed(
        service, OrderCancelled(order_id=script[0].order_id, shop_id=shop, order_no="x", reason="expired")
    )
    assert (await decide(service, order(shop, ip="192.0.2.66", product=product)))["verdict"] == "approve"
    assert (await decide(service, order(shop, ip="192.0.2.66", product=product)))["verdict"] == "reject"
    await feed(service, paid(script[1]))
    assert (await decide(service, order(shop, ip="192.0.2.66", product=product)))["verdict"] == "approve"


async def test_an_unpaid_limit_set_later_counts_the_orders_already_open(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    first = order(shop, email="hoarder@example.com")
    await decide(service, first)
    await set_rules(api, shop, {"type": "unpaid_orders", "per": "email", "limit": 1})
    assert (await decide(service, order(shop, email="hoarder@example.com")))["verdict"] == "reject"
    await feed(service, OrderRejected(order_id=first.order_id, shop_id=shop, order_no="x", reasons=[]))
    assert (await decide(service, order(shop, email="hoarder@example.com")))["verdict"] == "approve"


async def seed_mean(service: Service, shop: UUID, product: UUID, amount: int, count: int) -> None:
    for _ in range(count):
        placed = order(shop, product=product, amount=amount, email=f"{uuid4().hex[:6]}@example.com")
        await feed(service, placed)
        await feed(service, paid(placed))


async def test_an_order_at_four_times_the_trailing_mean_goes_to_review_and_an_operator_approves_it(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop, product = uuid4(), uuid4()
    await set_rules(api, shop, {"type": "amount_above_mean", "factor": "3", "min_samples": 3})
    await seed_mean(service, shop, product, 1000, 3)
    big = order(shop, product=product, amount=4000, device="browser-4f0c2a9e1d")
    usual = order(shop, product=product, amount=2900)

    first = await decide(service, big)
    assert (await decide(service, usual))["verdict"] == "approve"
    assert first["verdict"] == "review" and first["fired"] == ["shop.amount_above_mean[0]"]
    scope = {SHOP_HEADER: str(shop)}
    [listed] = (await api.get("/internal/reviews", headers=scope)).json()["items"]
    assert listed["order_id"] == str(big.order_id) and listed["amount"] == 4000
    assert listed["fired"] == ["shop.amount_above_mean[0]"] and listed["trailing_mean"] == 1000
    assert listed["device_id"] == "browser-4f0c2a9e1d"  # which browser placed it, for the reviewer

    approved = await api.post(
        f"/internal/reviews/{big.order_id}/approve", json={"reviewed_by": "op@shop.example"}, headers=scope
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    final = (await decisions(service, big))[1]
    assert final["verdict"] == "approve" and final["review_outcome"] == "approved"
    assert final["reviewed_by"] == "op@shop.example"
    again = await api.post(
        f"/internal/reviews/{big.order_id}/reject", json={"reviewed_by": "x", "reason": "late"}, headers=scope
    )
    assert again.status_code == 409 and len(await decisions(service, big)) == 2


async def test_a_rejected_review_rejects_the_order_with_the_reason_and_an_untouched_one_expires(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "disposable_email", "action": "review"}, review_timeout_seconds=600)
    rejected, untouched = order(shop, email="a@yopmail.com"), order(shop, email="b@yopmail.com")
    assert (
        (await decide(service, rejected))["verdict"]
        == (await decide(service, untouched))["verdict"]
        == "review"
    )

    response = await api.post(
        f"/internal/reviews/{rejected.order_id}/reject",
        json={"reviewed_by": "op@shop.example", "reason": "stolen card pattern"},
        headers={SHOP_HEADER: str(shop)},
    )
    assert response.status_code == 200
    final = (await decisions(service, rejected))[1]
    assert final["verdict"] == "reject" and final["reasons"] == ["review rejected: stolen card pattern"]

    assert await handlers.expire_reviews(service.uow(), datetime.now(UTC) + timedelta(seconds=599)) == 0
    assert await handlers.expire_reviews(service.uow(), datetime.now(UTC) + timedelta(seconds=601)) == 1
    expired = (await decisions(service, untouched))[1]
    assert expired["verdict"] == "reject" and expired["review_outcome"] == "expired"
    assert await handlers.expire_reviews(service.uow(), datetime.now(UTC) + timedelta(days=1)) == 0


async def test_a_rule_changed_through_the_api_applies_to_the_next_order_and_the_decision_names_the_version(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    before = await decide(service, order(shop, email="x@example.com"))
    assert before["verdict"] == "approve" and before["rules_version"] is None
    version = await set_rules(api, shop, {"type": "blocklist", "email_domains": ["example.com"]})
    after = await decide(service, order(shop, email="y@example.com"))
    assert after["verdict"] == "reject" and after["rules_version"] == version == 1
    assert await set_rules(api, shop) == 2
    assert (await decide(service, order(shop, email="z@example.com")))["rules_version"] == 2
    decision = (
        await api.get(f"/internal/decisions/{after['order_id']}", headers={SHOP_HEADER: str(shop)})
    ).json()
    assert decision["rules_version"] == 1 and decision["fired"] == ["shop.blocklist[0]"]


async def test_a_platform_rule_applies_in_every_shop_and_the_decision_names_its_version(
    service: Service, api: httpx.AsyncClient
) -> None:
    body = {"rules": [{"type": "blocklist", "cidrs": ["192.0.2.128/25"]}], "changed_by": "admin"}
    response = await api.put("/internal/platform-rules", json=body)
    version = response.json()["version"]
    try:
        for shop in (uuid4(), uuid4()):
            decided = await decide(service, order(shop, ip="192.0.2.200"))
            assert decided["verdict"] == "reject" and decided["platform_rules_version"] == version
            assert decided["fired"] == ["platform.blocklist[0]"]
    finally:
        await api.put("/internal/platform-rules", json={"rules": [], "changed_by": "admin"})


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"type": "blocklist", "cidrs": ["10.0.0.0/33"]}, "cidrs"),
        ({"type": "velocity", "per": "ip", "limit": 5, "window_seconds": -1}, "window_seconds"),
        ({"type": "captcha"}, "type"),
    ],
)
async def test_a_bad_rule_is_refused_naming_the_field_and_nothing_is_saved(
    service: Service, api: httpx.AsyncClient, rule: dict[str, Any], field: str
) -> None:
    shop = uuid4()
    good = {"type": "velocity", "per": "email", "limit": 3, "window_seconds": 60}
    refused = await api.put(
        "/internal/rules",
        json={"rules": [good, rule], "changed_by": "owner"},
        headers={SHOP_HEADER: str(shop)},
    )
    assert refused.status_code == 422 and field in refused.text
    current = (await api.get("/internal/rules", headers={SHOP_HEADER: str(shop)})).json()
    assert current["version"] == 0 and current["rules"] == []


async def test_a_first_purchase_above_the_amount_goes_to_review_and_a_buyer_who_paid_before_is_approved(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "first_purchase_above", "amount": 5000})
    small = order(shop, email="New@Buyer.example", amount=500)
    assert (await decide(service, small))["verdict"] == "approve"
    first_big = await decide(service, order(shop, email="new@buyer.example", amount=8000))
    assert first_big["verdict"] == "review" and first_big["fired"] == ["shop.first_purchase_above[0]"]

    await feed(service, paid(small))
    assert (await decide(service, order(shop, email="new@buyer.example", amount=8000)))[
        "verdict"
    ] == "approve"
    elsewhere = await decide(service, order(uuid4(), email="new@buyer.example", amount=8000))
    assert elsewhere["verdict"] == "approve"  # another shop has no such rule


async def test_the_rule_set_audit_lists_each_version_newest_first_with_who_and_what(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "velocity", "per": "ip", "limit": 5, "window_seconds": 60})
    await set_rules(api, shop, {"type": "quantity", "max": 3}, {"type": "disposable_email"})
    audit = (await api.get("/internal/rules/history", headers={SHOP_HEADER: str(shop)})).json()["items"]
    assert [(a["version"], a["rule_types"]) for a in audit] == [
        (2, ["quantity", "disposable_email"]),
        (1, ["velocity"]),
    ]
    assert all(a["changed_by"] and a["changed_at"] for a in audit)
    elsewhere = (await api.get("/internal/rules/history", headers={SHOP_HEADER: str(uuid4())})).json()
    assert elsewhere == {"items": []}


async def test_a_phone_on_the_shops_blocklist_rejects_its_order_naming_the_rule(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    await set_rules(api, shop, {"type": "blocklist", "phones": ["+86 138 0013 8000"]})
    blocked = await decide(service, order(shop, phone="+86-138-0013-8000"))
    assert blocked["verdict"] == "reject" and blocked["fired"] == ["shop.blocklist[0]"]
    assert "phone +8613800138000 is blocked" in blocked["reasons"][0]
    assert (await decide(service, order(shop, phone="+86 139 0000 1111")))["verdict"] == "approve"
    assert (await decide(service, order(shop)))["verdict"] == "approve"


async def test_fifty_orders_from_one_device_against_a_limit_of_five_let_five_through_and_name_the_rule(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop, device = uuid4(), "dLq3x2m1Qk-7YvB0aZr9Tw"
    version = await set_rules(
        api, shop, {"type": "velocity", "per": "device", "limit": 5, "window_seconds": 60}
    )
    # fifty addresses and fifty e-mails: only the device is the same
    verdicts = [
        await decide(service, order(shop, ip=f"203.0.113.{i}", email=f"d{i}@example.com", device=device))
        for i in range(50)
    ]
    assert [v["verdict"] for v in verdicts] == ["approve"] * 5 + ["reject"] * 45
    for rejected in verdicts[5:]:
        assert rejected["fired"] == ["shop.velocity[0]"] and rejected["rules_version"] == version
        assert rejected["reasons"] == ["shop.velocity[0]: more than 5 orders per device in 60 s"]
    other = order(shop, ip="203.0.113.99", device="another-browser-0123456789")
    assert (await decide(service, other))["verdict"] == "approve"


async def test_a_device_on_the_platforms_blocklist_rejects_its_order_in_any_shop(
    service: Service, api: httpx.AsyncClient
) -> None:
    device = f"blocked-{uuid4().hex}"
    body = {"rules": [{"type": "blocklist", "device_ids": [device]}], "changed_by": "ops@platform"}
    assert (await api.put("/internal/platform-rules", json=body)).status_code == 200
    blocked = await decide(service, order(uuid4(), device=device))
    assert blocked["verdict"] == "reject" and blocked["fired"] == ["platform.blocklist[0]"]
    assert f"device {device} is blocked" in blocked["reasons"][0]
    assert (await decide(service, order(uuid4(), device=f"fine-{uuid4().hex}")))["verdict"] == "approve"
    await api.put("/internal/platform-rules", json={"rules": [], "changed_by": "ops@platform"})
