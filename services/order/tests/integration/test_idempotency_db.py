"""Idempotency-Key on order creation against the real database: same key and body -> the first answer
(the work runs once, even under concurrency); same key, other body -> 409; a failed attempt frees the key."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import DomainError, NotFound
from order.service_layer import idempotency

pytestmark = pytest.mark.integration

KEEP = timedelta(hours=24)


class Counter:
    def __init__(self) -> None:
        self.runs = 0

    async def work(self) -> tuple[int, dict[str, Any]]:
        self.runs += 1
        await asyncio.sleep(0.05)
        return 201, {"order_no": f"F{self.runs}"}


async def test_same_key_same_body_gets_the_first_answer(db: Any) -> None:
    counter = Counter()
    body = {"product_id": "p", "quantity": 1}
    first = await idempotency.once(DEFAULT_SHOP_ID, "key-1", body, db.uow, counter.work, KEEP)
    again = await idempotency.once(
        DEFAULT_SHOP_ID, "key-1", dict(reversed(list(body.items()))), db.uow, counter.work, KEEP
    )
    assert first == again == (201, {"order_no": "F1"})
    assert counter.runs == 1
    other = await idempotency.once(DEFAULT_SHOP_ID, "key-2", body, db.uow, counter.work, KEEP)
    assert other == (201, {"order_no": "F2"})


async def test_same_key_different_body_is_a_conflict(db: Any) -> None:
    counter = Counter()
    await idempotency.once(DEFAULT_SHOP_ID, "key-1", {"quantity": 1}, db.uow, counter.work, KEEP)
    with pytest.raises(idempotency.IdempotencyConflict, match="different request body") as caught:
        await idempotency.once(DEFAULT_SHOP_ID, "key-1", {"quantity": 2}, db.uow, counter.work, KEEP)
    assert caught.value.status_code == 409
    assert counter.runs == 1


async def test_concurrent_requests_with_one_key_run_the_work_once(db: Any) -> None:
    counter = Counter()
    results = await asyncio.gather(
        *(idempotency.once(DEFAULT_SHOP_ID, "key-c", {"q": 1}, db.uow, counter.work, KEEP) for _ in range(8)),
        return_exceptions=True,
    )
    answers = [r for r in results if isinstance(r, tuple)]
    busy = [r for r in results if isinstance(r, idempotency.IdempotencyConflict)]
    assert counter.runs == 1
    assert len(answers) + len(busy) == 8 and answers
    assert all(a == (201, {"order_no": "F1"}) for a in answers)


async def test_a_failed_attempt_frees_the_key_and_old_keys_expire(db: Any) -> None:
    async def fails() -> tuple[int, dict[str, Any]]:
        raise NotFound("unknown product")

    with pytest.raises(NotFound):
        await idempotency.once(DEFAULT_SHOP_ID, "key-f", {"q": 1}, db.uow, fails, KEEP)
    counter = Counter()
    assert await idempotency.once(DEFAULT_SHOP_ID, "key-f", {"q": 1}, db.uow, counter.work, KEEP) == (
        201,
        {"order_no": "F1"},
    )
    await db.fetch("UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'")
    assert await idempotency.once(DEFAULT_SHOP_ID, "key-f", {"q": 2}, db.uow, counter.work, KEEP) == (
        201,
        {"order_no": "F2"},
    )
    with pytest.raises(DomainError, match="Idempotency-Key"):
        await idempotency.once(DEFAULT_SHOP_ID, "", {"q": 1}, db.uow, counter.work, KEEP)
