"""Quality automation end to end, through the gateway's HTTP, over real Kafka and Postgres with every service
its own process: real deliveries feed the product page's 7-day success rate and typical delivery time; a key
reported invalid and replaced claims its cost from its batch's supplier (deducted from the deposit) and, past
the shop's after-sales threshold, pauses the product: the page marks it, checkout refuses it (409), the
seller is told; an operator resumes it and it sells again. Another shop's supplier or product is 404; a bad
threshold is a 422 naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faka_common.testing import eventually

from .e2e_platform import Platform, running_platform
from .test_aftersales import report, settled
from .test_sale import notification, notify, wait_for_status
from .test_shops import open_shop

pytestmark = pytest.mark.integration
COST = 800  # the batch's cost per key, minor units


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


async def supplied_product(platform: Platform, keys: int) -> tuple[str, str]:
    """A card-key product whose keys came from a supplier with a deposit: (product id, supplier id)."""
    async with platform.admin() as admin:
        registered = await admin.post(
            "/api/admin/suppliers",
            json={"name": f"keys-{uuid.uuid4().hex[:6]}", "kind": "http_json", "base_url": "http://127.0.0.1:9",
                  "secret": "supplier-secret-1", "config": {"merchant_id": "m-1"}},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        supplier_id: str = registered.json()["supplier_id"]
        deposit = await admin.post(f"/api/admin/suppliers/{supplier_id}/deposits", json={"amount": 5000})
        assert deposit.status_code == 201, deposit.text
        created = await admin.post(
            "/api/admin/products", json={"title": "Quality card", "price": 1500, "currency": "CNY"}
        )
        assert created.status_code == 201, created.text
        product_id: str = created.json()["product_id"]
        imported = await admin.post(
            f"/api/admin/products/{product_id}/keys",
            params={"supplier_id": supplier_id, "cost_price": COST},
            content="\n".join(f"QA-{uuid.uuid4().hex[:12].upper()}" for _ in range(keys)).encode(),
            headers={"Content-Type": "text/plain"},
        )
        assert imported.status_code == 200 and imported.json()["supplier_id"] == supplier_id, imported.text
    return product_id, supplier_id


async def placed(platform: Platform, product_id: str) -> Any:
    async with platform.storefront() as shop:
        return await shop.post(
            "/api/v1/orders",
            json={"product_id": product_id, "email": f"q-{uuid.uuid4().hex[:8]}@example.com"},
        )


async def answered(platform: Platform, product_id: str, status: int) -> Any:
    """A placement answered `status`, tried until one is: the order service learns of a pause or resumption
    from inventory's events (its catalog read model), a moment after inventory made it."""

    async def attempt() -> Any:
        answer = await placed(platform, product_id)
        return answer if answer.status_code == status else None

    return await eventually(attempt, timeout=30, interval=0.3)


async def sold(platform: Platform, product_id: str) -> tuple[dict[str, Any], str]:
    """A paid and delivered order of one key: (order, its key)."""
    answer = await placed(platform, product_id)
    assert answer.status_code == 201, answer.text
    order: dict[str, Any] = answer.json()
    await wait_for_status(platform, order, "awaiting_payment")
    assert (await notify(platform, notification(platform, order))).status_code == 200
    [item] = (await wait_for_status(platform, order, "delivered"))["items"]
    return order, item["content"]


async def product_page(platform: Platform, product_id: str) -> str:
    async with platform.storefront() as shop:
        page = await shop.get(f"/products/{product_id}", params={"lang": "en"})
    assert page.status_code == 200, page.text
    return page.text


async def quality(platform: Platform, product_id: str) -> dict[str, Any]:
    async with platform.admin() as admin:
        found = await admin.get(f"/api/admin/products/{product_id}/quality")
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def test_a_product_pauses_itself_after_replacements_its_supplier_pays_and_an_operator_resumes_it(
    platform: Platform,
) -> None:
    async with platform.admin() as admin:
        policy = {"window_days": 7, "min_deliveries": 2, "pause_rate": 0.4}
        assert (await admin.put("/api/admin/product-quality-policy", json=policy)).status_code == 200
    product_id, supplier_id = await supplied_product(platform, keys=6)
    first, bad_key = await sold(platform, product_id)
    await sold(platform, product_id)

    async def figures_shown() -> str | None:
        page = await product_page(platform, product_id)
        return page if "100.0% of 2 orders" in page else None

    page = await eventually(figures_shown, timeout=30, interval=0.3)
    assert "Delivered in the last 7 days" in page and "Typical delivery time" in page and "Within " in page
    assert "Paused" not in page

    opened = await report(platform, first, key=bad_key)  # 1 case of 2 delivered: 0.5, over 0.4
    assert opened.status_code == 201, opened.text
    [ticket] = await settled(platform, first, 1)
    assert ticket["status"] == "resolved"

    async def paused() -> dict[str, Any] | None:
        found = await quality(platform, product_id)
        return found if found["paused"] else None

    found = await eventually(paused, timeout=30, interval=0.3)
    assert "after-sales rate 0.500 > 0.4" in found["paused_reason"]
    refused = await answered(platform, product_id, 409)  # once the order service has heard of the pause
    assert "not on sale: paused because buyers reported too many problems" in refused.json()["message"]
    page = await product_page(platform, product_id)
    assert "Paused: buyers reported too many problems" in page and 'action="shop/orders"' not in page

    async with platform.admin() as admin:
        account = (await admin.get(f"/api/admin/suppliers/{supplier_id}/account")).json()
        resumed = await admin.post(f"/api/admin/products/{product_id}/resume")
    [claims] = account["claims"]
    assert (claims["claims"], claims["replacements"], claims["amount"]) == (1, 1, COST)
    assert account["balances"] == {"CNY": 5000 - COST}
    [batch] = account["keys"]["batches"]
    # two keys sold, one of them void, and its replacement from the same batch: 3 delivered, 1 invalid
    assert (batch["delivered"], batch["reported_invalid"], batch["invalid_rate"]) == (3, 1, 0.3333)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False, resumed.text
    await answered(platform, product_id, 201)


async def test_another_shops_supplier_and_product_are_404_and_bad_thresholds_name_the_field(
    platform: Platform,
) -> None:
    product_id, supplier_id = await supplied_product(platform, keys=1)
    other = {"X-Shop-Id": (await open_shop(platform, "Other shop"))["shop_id"]}
    async with platform.admin() as admin:
        answers = [
            await admin.get(f"/api/admin/suppliers/{supplier_id}/account", headers=other),
            await admin.post(f"/api/admin/suppliers/{supplier_id}/resume", headers=other),
            await admin.get(f"/api/admin/products/{product_id}/quality", headers=other),
            await admin.post(f"/api/admin/products/{product_id}/resume", headers=other),
        ]
        window = await admin.put(
            "/api/admin/product-quality-policy",
            json={"window_days": 0, "min_deliveries": 1, "pause_rate": 0.1},
        )
        threshold = await admin.put(
            "/api/admin/supplier-policy",
            json={"window_minutes": 60, "min_sample": 1, "demote_claim_rate": -1, "pause_claim_rate": 0.5},
        )
    assert [a.status_code for a in answers] == [404] * 4, [a.text for a in answers]
    assert window.status_code == 422 and "window_days" in window.text, window.text
    assert threshold.status_code == 422 and "demote_claim_rate" in threshold.text, threshold.text
