"""Public idempotency with Stripe's semantics: the same key with the same body gets the first answer; the
same key with another body, or while the first request is still running, is a 409."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from faka_common.errors import Conflict, DomainError

from order.service_layer.unit_of_work import OrderUnitOfWork

MAX_KEY = 255


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def once(
    shop_id: UUID,
    key: str,
    body: dict[str, Any],
    uow_factory: Callable[[], OrderUnitOfWork],
    work: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
    keep: timedelta,
) -> tuple[int, dict[str, Any]]:
    """Run `work` once per key of the shop; its (status, body) answer is kept for `keep` and replayed (to
    that shop only: another shop's key of the same name is another key). A 4xx from `work` is not kept, so a
    corrected retry with the same key may succeed."""
    if not key or len(key) > MAX_KEY:
        raise DomainError(f"Idempotency-Key must be 1..{MAX_KEY} characters")
    mark = fingerprint(body)
    now = datetime.now(UTC)
    async with uow_factory() as uow:
        held = await uow.idempotency.claim(shop_id, key, mark, now, now - keep)
        await uow.commit()
    if held is not None:
        if held.fingerprint != mark:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
        if held.response is None:
            raise IdempotencyConflict("a request with this Idempotency-Key is still being processed")
        return int(held.status_code), dict(held.response)
    try:
        status, answer = await work()
    except BaseException:
        async with uow_factory() as uow:
            await uow.idempotency.release(shop_id, key)
            await uow.commit()
        raise
    async with uow_factory() as uow:
        await uow.idempotency.complete(shop_id, key, status, answer)
        await uow.commit()
    return status, answer
