"""After-sales replacement of a delivered key against a real Postgres: the reported key is voided and
counted against its batch, the order holds a different key of the same pool, and the product's policy, the
order's earlier replacements or an empty pool refuse it with a reason; one key is replaced once, however
many claims race."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from faka_common.contracts.aftersales import KeyReplacementRequested
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.uow import SessionFactory
from faka_common.errors import NotFound
from inventory.service_layer import catalog, key_pools, replacements, reservations
from inventory.service_layer.unit_of_work import InventoryUnitOfWork
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_inventory_db import KEYRING, approved, card_product, paid, published, run, scalar, stock

pytestmark = pytest.mark.integration


async def sold_order(sessions: SessionFactory, product_id: uuid.UUID, quantity: int = 1) -> uuid.UUID:
    order = approved(product_id, quantity)
    await run(sessions, order, reservations.reserve_stock)
    await run(sessions, paid(order), reservations.allocate_keys)
    return order.order_id


async def revealed(sessions: SessionFactory, order_id: uuid.UUID) -> dict[uuid.UUID, str]:
    async with InventoryUnitOfWork(sessions) as uow:
        found = await key_pools.reveal_keys(DEFAULT_SHOP_ID, order_id, "test", uow, KEYRING)
    return {k.key_id: k.content for k in found.keys}


def claim(
    order_id: uuid.UUID,
    product_id: uuid.UUID,
    key_id: uuid.UUID,
    delivered_at: datetime | None = None,
    evidence: bool = False,
) -> KeyReplacementRequested:
    return KeyReplacementRequested(
        order_id=order_id,
        product_id=product_id,
        claim_id=uuid.uuid4(),
        ticket_id=uuid.uuid4(),
        key_id=key_id,
        delivered_at=delivered_at or datetime.now(UTC) - timedelta(minutes=5),
        evidence=evidence,
    )


async def answers(engine: AsyncEngine, order_id: uuid.UUID) -> list[tuple[str, str | None]]:
    """(type, refusal reason) of the replacement answers published for the order."""
    return [
        (kind, payload.get("reason"))
        for kind, payload in await published(engine, order_id)
        if kind in ("KeyReplaced", "KeyReplacementRefused")
    ]


async def set_policy(sessions: SessionFactory, product_id: uuid.UUID, **policy: object) -> None:
    async with InventoryUnitOfWork(sessions) as uow:
        await catalog.update_product(DEFAULT_SHOP_ID, product_id, policy, uow)


async def test_a_reported_key_is_voided_counted_and_replaced_by_another_key_of_the_pool(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    pool = [f"R-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)]
    product_id = await card_product(sessions, pool)
    order_id = await sold_order(sessions, product_id)
    [(bad_id, bad_key)] = (await revealed(sessions, order_id)).items()

    await run(sessions, claim(order_id, product_id, bad_id), replacements.replace_delivered_key)

    [(new_id, new_key)] = (await revealed(sessions, order_id)).items()
    assert new_id != bad_id and new_key != bad_key and new_key in pool
    kinds = [kind for kind, _ in await published(engine, order_id)]
    assert kinds[-1] == "KeyReplaced"
    replaced = (await published(engine, order_id))[-1][1]
    assert (replaced["voided_key_id"], replaced["key_id"]) == (str(bad_id), str(new_id))
    assert await scalar(engine, "SELECT status FROM card_keys WHERE id = :k", k=bad_id) == "void"
    assert await scalar(engine, "SELECT order_id FROM card_keys WHERE id = :k", k=bad_id) is None
    batch = await scalar(engine, "SELECT batch_id FROM card_keys WHERE id = :k", k=bad_id)
    assert replaced["batch_id"] == str(batch)
    assert await scalar(engine, "SELECT reported_invalid FROM key_batches WHERE id = :b", b=batch) == 1
    assert await stock(sessions, product_id) == (1, 0, 1)


async def test_a_second_claim_of_a_replaced_key_is_refused_and_replaces_nothing(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"S-{i}-{uuid.uuid4().hex[:8]}" for i in range(4)])
    order_id = await sold_order(sessions, product_id)
    [bad_id] = await revealed(sessions, order_id)
    await set_policy(sessions, product_id, replacements_per_order=5)
    await run(sessions, claim(order_id, product_id, bad_id), replacements.replace_delivered_key)
    await run(sessions, claim(order_id, product_id, bad_id), replacements.replace_delivered_key)

    assert await answers(engine, order_id) == [
        ("KeyReplaced", None),
        ("KeyReplacementRefused", "already_replaced"),
    ]
    assert await stock(sessions, product_id) == (2, 0, 1)


async def test_twenty_concurrent_claims_of_one_key_replace_it_once(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"C-{i}-{uuid.uuid4().hex[:8]}" for i in range(25)])
    order_id = await sold_order(sessions, product_id)
    [bad_id] = await revealed(sessions, order_id)
    await set_policy(sessions, product_id, replacements_per_order=100)
    claims = [claim(order_id, product_id, bad_id) for _ in range(20)]

    results = await asyncio.gather(
        *(run(sessions, c, replacements.replace_delivered_key) for c in claims), return_exceptions=True
    )

    assert [r for r in results if isinstance(r, BaseException)] == []
    found = await answers(engine, order_id)
    assert found.count(("KeyReplaced", None)) == 1
    assert found.count(("KeyReplacementRefused", "already_replaced")) == 19
    assert len(await revealed(sessions, order_id)) == 1
    assert await stock(sessions, product_id) == (23, 0, 1)


@pytest.mark.parametrize(
    ("policy", "delivered_hours_ago", "evidence", "reason"),
    [
        ({"replacement_window_hours": 24}, 25, False, "outside_window"),
        ({"replacements_per_order": 0}, 0, False, "order_limit_reached"),
        ({"replacement_evidence_required": True}, 0, False, "evidence_required"),
    ],
)
async def test_a_claim_outside_the_products_policy_is_refused_with_the_reason(
    engine: AsyncEngine,
    sessions: SessionFactory,
    policy: dict[str, object],
    delivered_hours_ago: int,
    evidence: bool,
    reason: str,
) -> None:
    product_id = await card_product(sessions, [f"P-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)])
    order_id = await sold_order(sessions, product_id)
    [key_id] = await revealed(sessions, order_id)
    await set_policy(sessions, product_id, **policy)
    delivered_at = datetime.now(UTC) - timedelta(hours=delivered_hours_ago, minutes=1)

    await run(
        sessions,
        claim(order_id, product_id, key_id, delivered_at, evidence),
        replacements.replace_delivered_key,
    )

    assert await answers(engine, order_id) == [("KeyReplacementRefused", reason)]
    assert list(await revealed(sessions, order_id)) == [key_id]
    assert await stock(sessions, product_id) == (2, 0, 1)


async def test_the_second_key_of_an_order_over_its_limit_is_refused(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"L-{i}-{uuid.uuid4().hex[:8]}" for i in range(5)])
    order_id = await sold_order(sessions, product_id, quantity=2)
    first, second = await revealed(sessions, order_id)
    await run(sessions, claim(order_id, product_id, first), replacements.replace_delivered_key)
    await run(sessions, claim(order_id, product_id, second), replacements.replace_delivered_key)

    assert await answers(engine, order_id) == [
        ("KeyReplaced", None),
        ("KeyReplacementRefused", "order_limit_reached"),
    ]


async def test_an_empty_pool_refuses_and_keeps_the_buyers_key(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"E-{uuid.uuid4().hex[:8]}"])
    order_id = await sold_order(sessions, product_id)
    [key_id] = await revealed(sessions, order_id)

    await run(sessions, claim(order_id, product_id, key_id), replacements.replace_delivered_key)

    assert await answers(engine, order_id) == [("KeyReplacementRefused", "out_of_stock")]
    assert list(await revealed(sessions, order_id)) == [key_id]
    assert await scalar(engine, "SELECT status FROM card_keys WHERE id = :k", k=key_id) == "sold"


async def test_a_key_the_order_does_not_hold_is_refused(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    product_id = await card_product(sessions, [f"N-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)])
    order_id = await sold_order(sessions, product_id)
    other_order = await sold_order(sessions, product_id)
    [foreign_key] = await revealed(sessions, other_order)

    await run(sessions, claim(order_id, product_id, foreign_key), replacements.replace_delivered_key)

    assert await answers(engine, order_id) == [("KeyReplacementRefused", "not_this_orders_key")]
    assert list(await revealed(sessions, other_order)) == [foreign_key]


async def identified(sessions: SessionFactory, order_id: uuid.UUID, content: str) -> uuid.UUID:
    async with InventoryUnitOfWork(sessions) as uow:
        return await replacements.identify_key(DEFAULT_SHOP_ID, order_id, content, uow, KEYRING)


async def test_a_key_is_identified_by_its_text_while_held_and_after_it_was_replaced(
    sessions: SessionFactory,
) -> None:
    product_id = await card_product(sessions, [f"I-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)])
    order_id, other_order = await sold_order(sessions, product_id), await sold_order(sessions, product_id)
    [(bad_id, bad_key)] = (await revealed(sessions, order_id)).items()
    [other_key] = (await revealed(sessions, other_order)).values()
    assert await identified(sessions, order_id, f"  {bad_key} ") == bad_id

    await run(sessions, claim(order_id, product_id, bad_id), replacements.replace_delivered_key)

    assert await identified(sessions, order_id, bad_key) == bad_id
    [(new_id, new_key)] = (await revealed(sessions, order_id)).items()
    assert await identified(sessions, order_id, new_key) == new_id
    for stranger in (other_key, "NOT-A-KEY"):
        with pytest.raises(NotFound):
            await identified(sessions, order_id, stranger)
