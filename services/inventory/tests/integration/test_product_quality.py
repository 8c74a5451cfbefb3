"""Products that pause themselves, against a real Postgres: delivery's outcomes and the buyers' invalid-key
cases are counted per product; past the shop's after-sales threshold (with the minimum of deliveries) the
product pauses once (announced, counted), is not on sale for the order service, and an operator resumes it;
below the minimum it never pauses; the pre-sale figures (7-day success rate, typical delivery time) come from
the counted deliveries, of a product with variants all its options together when the storefront asks; a
batch's supplier is named in KeyReplaced with its recent batches' keys sold, and its invalid-key rate is
readable; another shop's product is 404; bad thresholds are 422s naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from faka_common.contracts.delivery import DeliveryFailed, DeliverySucceeded
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.uow import SessionFactory
from faka_common.http import SHOP_HEADER, create_app
from faka_common.metrics import shop_label
from faka_common.testing import asgi_client
from inventory.adapters.metrics import PRODUCTS_PAUSED
from inventory.bootstrap import bootstrap
from inventory.config import Settings
from inventory.entrypoints.http import router
from inventory.service_layer import quality, replacements
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import card_product, new_product, published, run
from .test_key_replacement import claim, revealed, sold_order

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service = bootstrap(Settings(database_url=database_url, run_migrations=False))
    app = create_app(service.runtime, [router(service)], title="inventory")
    async with asgi_client(app, "inventory") as client:
        yield client
    await service.runtime.engine.dispose()


def shop(shop_id: uuid.UUID = DEFAULT_SHOP_ID) -> dict[str, str]:
    return {SHOP_HEADER: str(shop_id)}


async def set_quality_policy(api: httpx.AsyncClient, **policy: Any) -> None:
    """The default shop's threshold (each test puts the one it needs)."""
    put = await api.put("/internal/product-quality-policy", json=policy, headers=shop())
    assert put.status_code == 200, put.text


def delivered(
    order_id: uuid.UUID, product_id: uuid.UUID, seconds: float = 2.0, items: int = 1
) -> DeliverySucceeded:
    now = datetime.now(UTC)
    return DeliverySucceeded(
        order_id=order_id, delivery_id=uuid.uuid4(), mode="card_key", item_count=items, product_id=product_id,
        paid_at=now - timedelta(seconds=seconds), delivered_at=now,
    )  # fmt: skip


async def deliver_orders(sessions: SessionFactory, product_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """`count` orders of one key each, sold and delivered (delivery's DeliverySucceeded consumed)."""
    orders = []
    for _ in range(count):
        order_id = await sold_order(sessions, product_id)
        await run(sessions, delivered(order_id, product_id), quality.record_delivery)
        orders.append(order_id)
    return orders


async def report_invalid(sessions: SessionFactory, product_id: uuid.UUID, order_id: uuid.UUID) -> None:
    [key_id] = (await revealed(sessions, order_id)).keys()
    await run(sessions, claim(order_id, product_id, key_id), replacements.replace_delivered_key)


async def product_view(api: httpx.AsyncClient, product_id: uuid.UUID) -> dict[str, Any]:
    found = await api.get(f"/internal/products/{product_id}", headers=shop())
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def announced(engine: AsyncEngine, product_id: uuid.UUID) -> list[str]:
    return [
        kind for kind, _ in await published(engine, product_id) if kind in ("ProductPaused", "ProductResumed")
    ]


async def test_a_product_with_too_many_invalid_keys_pauses_once_is_not_on_sale_and_resumes(
    api: httpx.AsyncClient, engine: AsyncEngine, sessions: SessionFactory
) -> None:
    await set_quality_policy(api, window_days=7, min_deliveries=5, pause_rate=0.3)
    product_id = await card_product(sessions, [f"Q-{i}-{uuid.uuid4().hex[:8]}" for i in range(12)])
    orders = await deliver_orders(sessions, product_id, 5)
    paused_before = PRODUCTS_PAUSED.labels(shop_label(DEFAULT_SHOP_ID))._value.get()

    await report_invalid(sessions, product_id, orders[0])  # 1 of 5: 0.2, under the threshold
    assert (await product_view(api, product_id))["paused"] is False
    await report_invalid(sessions, product_id, orders[1])  # 2 of 5: 0.4, over it
    await report_invalid(sessions, product_id, orders[2])  # already paused: announced once

    view = await product_view(api, product_id)
    assert (view["paused"], view["active"]) == (True, False)  # the order service refuses it (409)
    assert "after-sales rate 0.400 > 0.3" in view["paused_reason"]
    assert await announced(engine, product_id) == ["ProductPaused"]
    assert PRODUCTS_PAUSED.labels(shop_label(DEFAULT_SHOP_ID))._value.get() == paused_before + 1
    figures = (await api.get(f"/internal/products/{product_id}/quality", headers=shop())).json()
    assert (figures["window"]["cases"], figures["window"]["delivered_items"]) == (3, 5)

    resumed = await api.post(
        f"/internal/products/{product_id}/resume", json={"resumed_by": "ops"}, headers=shop()
    )

    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False
    view = await product_view(api, product_id)
    assert (view["paused"], view["active"]) == (False, True)
    await deliver_orders(sessions, product_id, 1)  # judged afresh: what paused it does not pause it again
    assert (await product_view(api, product_id))["paused"] is False
    assert await announced(engine, product_id) == ["ProductPaused", "ProductResumed"]


async def test_below_the_minimum_of_deliveries_a_product_never_pauses(
    api: httpx.AsyncClient, engine: AsyncEngine, sessions: SessionFactory
) -> None:
    await set_quality_policy(api, window_days=7, min_deliveries=5, pause_rate=0.3)
    product_id = await card_product(sessions, [f"M-{i}-{uuid.uuid4().hex[:8]}" for i in range(8)])
    orders = await deliver_orders(sessions, product_id, 3)

    for order_id in orders:  # every key of three bad: 100 %, but three sales prove nothing yet
        await report_invalid(sessions, product_id, order_id)

    assert (await product_view(api, product_id))["paused"] is False
    assert await announced(engine, product_id) == []


async def test_the_pre_sale_figures_come_from_the_counted_deliveries(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [])
    for seconds in (1.5, 4, 8, 25, 40):
        await run(sessions, delivered(uuid.uuid4(), product_id, seconds), quality.record_delivery)
    failed = DeliveryFailed(
        order_id=uuid.uuid4(), delivery_id=uuid.uuid4(), reason="x", product_id=product_id
    )
    await run(sessions, failed, quality.record_failure)
    other_shop = delivered(uuid.uuid4(), product_id).model_copy(update={"shop_id": uuid.uuid4()})
    await run(sessions, other_shop, quality.record_delivery)  # names the product in another shop: ignored

    figures = (await api.get(f"/internal/products/{product_id}/quality", headers=shop())).json()

    week = figures["last_7_days"]
    assert (week["delivered_orders"], week["failed_orders"], week["success_rate"]) == (5, 1, round(5 / 6, 4))
    assert week["median_delivery_seconds"] == 10  # the median (8 s) is in the bucket up to 10 s
    assert (
        await api.get(f"/internal/products/{product_id}/quality", headers=shop(uuid.uuid4()))
    ).status_code == 404


async def test_the_figures_of_a_product_with_variants_combine_its_options_when_asked_for_the_family(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    main = await new_product(sessions, title="Steam card", variant_label="¥50")
    variant = await new_product(
        sessions, title="Steam card ¥100", price=9500, variant_of=main.id, variant_label="¥100"
    )
    for seconds in (1.5, 4):
        await run(sessions, delivered(uuid.uuid4(), main.id, seconds), quality.record_delivery)
    for seconds in (25, 40, 45):
        await run(sessions, delivered(uuid.uuid4(), variant.id, seconds), quality.record_delivery)
    failed = DeliveryFailed(
        order_id=uuid.uuid4(), delivery_id=uuid.uuid4(), reason="x", product_id=variant.id
    )
    await run(sessions, failed, quality.record_failure)

    async def week(product_id: uuid.UUID, family: bool) -> dict[str, Any]:
        params = {"family": "true"} if family else {}
        found = await api.get(f"/internal/products/{product_id}/quality", params=params, headers=shop())
        assert found.status_code == 200, found.text
        figures: dict[str, Any] = found.json()["last_7_days"]
        return figures

    for asked in (main.id, variant.id):  # the page of either option shows the same, combined figures
        combined = await week(asked, family=True)
        assert (combined["delivered_orders"], combined["failed_orders"]) == (5, 1)
        assert (combined["success_rate"], combined["products_combined"]) == (round(5 / 6, 4), 2)
        assert combined["median_delivery_seconds"] == 30  # the median (25 s) is in the bucket up to 30 s
    alone = await week(main.id, family=False)
    assert (alone["delivered_orders"], alone["failed_orders"], alone["products_combined"]) == (2, 0, 1)


async def test_a_run_of_deliveries_counts_as_the_same_deliveries_one_by_one(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """The consumer hands a run of DeliverySucceeded to record_deliveries (a few statements per product)."""
    one_by_one, as_a_run = await card_product(sessions, []), await card_product(sessions, [])
    deliveries = [(1.5, 1), (4, 2), (8, 1), (25, 1), (40, 3), (8, 1)]
    for seconds, items in deliveries:
        await run(sessions, delivered(uuid.uuid4(), one_by_one, seconds, items), quality.record_delivery)
    another_shops = delivered(uuid.uuid4(), as_a_run).model_copy(update={"shop_id": uuid.uuid4()})
    run_of = [delivered(uuid.uuid4(), as_a_run, seconds, items) for seconds, items in deliveries]
    await run(sessions, [*run_of, another_shops], quality.record_deliveries)

    async def figures(product_id: uuid.UUID) -> dict[str, Any]:
        found = await api.get(f"/internal/products/{product_id}/quality", headers=shop())
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body

    counted = await figures(as_a_run)
    assert {**counted, "product_id": str(one_by_one)} == await figures(one_by_one)
    assert (counted["window"]["delivered_items"], counted["last_7_days"]["delivered_orders"]) == (9, 6)


async def test_a_run_that_brings_the_window_to_the_minimum_pauses_as_one_by_one_would(
    api: httpx.AsyncClient, engine: AsyncEngine, sessions: SessionFactory
) -> None:
    await set_quality_policy(api, window_days=7, min_deliveries=5, pause_rate=0.3)
    product_id = await card_product(sessions, [f"R-{i}-{uuid.uuid4().hex[:8]}" for i in range(6)])
    orders = await deliver_orders(sessions, product_id, 3)
    await report_invalid(sessions, product_id, orders[0])
    await report_invalid(sessions, product_id, orders[1])  # 2 cases of 3 delivered: below the minimum
    assert (await product_view(api, product_id))["paused"] is False

    run_of = [delivered(uuid.uuid4(), product_id) for _ in range(4)]
    await run(sessions, run_of, quality.record_deliveries)

    # one by one, the run's second delivery makes 2 cases of 5 (0.4 > 0.3) and pauses the product; judged
    # only at the run's end (2 of 7, 0.29) it would have stayed on sale
    view = await product_view(api, product_id)
    assert view["paused"] is True
    assert "after-sales rate 0.400 > 0.3" in view["paused_reason"]
    assert await announced(engine, product_id) == ["ProductPaused"]


async def test_a_replaced_key_names_its_batchs_supplier_and_the_batch_shows_its_invalid_rate(
    api: httpx.AsyncClient, engine: AsyncEngine, sessions: SessionFactory
) -> None:
    supplier = uuid.uuid4()
    product_id = await card_product(sessions, [])
    imported = await api.post(
        f"/internal/products/{product_id}/keys",
        params={"supplier_id": str(supplier), "cost_price": 1200},
        content="\n".join(f"S-{i}-{uuid.uuid4().hex[:8]}" for i in range(6)).encode(),
        headers={**shop(), "content-type": "text/plain"},
    )
    assert imported.status_code == 200 and imported.json()["supplier_id"] == str(supplier), imported.text
    orders = [await sold_order(sessions, product_id) for _ in range(4)]

    await report_invalid(sessions, product_id, orders[0])

    [replaced] = [p for kind, p in await published(engine, orders[0]) if kind == "KeyReplaced"]
    assert (replaced["supplier_id"], replaced["cost_price"], replaced["currency"]) == (
        str(supplier),
        1200,
        "CNY",
    )
    batches = (await api.get(f"/internal/suppliers/{supplier}/batches", headers=shop())).json()
    [batch] = batches["batches"]
    assert (batch["delivered"], batch["reported_invalid"], batch["invalid_rate"]) == (5, 1, 0.2)
    assert (batches["delivered"], batches["invalid_rate"]) == (5, 0.2)
    [sales] = replaced["supplier_batches"]  # what delivery judges the supplier's claim rate on
    assert (sales["batch_id"], sales["delivered"]) == (batch["batch_id"], 5)
    theirs = (await api.get(f"/internal/suppliers/{supplier}/batches", headers=shop(uuid.uuid4()))).json()
    assert theirs["batches"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"window_days": 0}, "window_days"),
        ({"pause_rate": -0.1}, "pause_rate"),
        ({"min_deliveries": 0}, "min_deliveries"),
    ],
)
async def test_bad_thresholds_are_a_422_naming_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {"window_days": 7, "min_deliveries": 20, "pause_rate": 0.1, **change}

    answer = await api.put("/internal/product-quality-policy", json=body, headers=shop(uuid.uuid4()))

    assert answer.status_code == 422 and field in answer.text, answer.text


async def test_resuming_another_shops_product_is_a_404(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [])

    answer = await api.post(
        f"/internal/products/{product_id}/resume", json={"resumed_by": "x"}, headers=shop(uuid.uuid4())
    )

    assert answer.status_code == 404, answer.text
