"""The manual queue: the repository of the tasks an operator delivers or rejects by hand, one per order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from faka_common.db.statements import Compiled
from faka_common.db.uow import fetch_records
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.adapters.tables import manual_tasks
from delivery.domain.manual import ManualTask


def _to_task(row: Any) -> ManualTask:
    return ManualTask(**{f: row[f] for f in ManualTask.__dataclass_fields__})


#: Every keyed delivery looks for a manual task of its order to resolve (one a sale).
_LOCK_TASK = Compiled(
    select(manual_tasks)
    .where(manual_tasks.c.shop_id == bindparam("shop_id"), manual_tasks.c.order_id == bindparam("order_id"))
    .with_for_update()
)


_LOCK_TASKS = (
    f"SELECT {', '.join(ManualTask.__dataclass_fields__)} FROM manual_tasks "  # noqa: S608 (constants)
    "WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE"
)


class ManualTaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, shop_id: UUID, order_id: UUID) -> ManualTask | None:
        row = await _LOCK_TASK.first(self._session, {"shop_id": shop_id, "order_id": order_id})
        return _to_task(row) if row else None

    async def lock_many(self, orders: Sequence[tuple[UUID, UUID]]) -> list[ManualTask]:
        """`lock` of many (shop id, order id) in one statement: the tasks found (another shop's left out)."""
        shops = dict((order, shop) for shop, order in orders)
        rows = await fetch_records(self._session, _LOCK_TASKS, list(shops))
        return [_to_task(row) for row in rows if row["shop_id"] == shops[row["order_id"]]]

    async def save(self, task: ManualTask) -> None:
        values = {f: getattr(task, f) for f in ManualTask.__dataclass_fields__}
        statement = insert(manual_tasks).values(**values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[manual_tasks.c.order_id],
                set_={
                    k: v
                    for k, v in values.items()
                    if k not in ("id", "shop_id", "order_id", "delivery_id", "created_at")
                },
                where=manual_tasks.c.shop_id == statement.excluded.shop_id,
            )
        )

    async def in_statuses(self, shop_id: UUID, statuses: Sequence[str], limit: int) -> list[ManualTask]:
        rows = await self._session.execute(
            select(manual_tasks)
            .where(manual_tasks.c.shop_id == shop_id, manual_tasks.c.status.in_(list(statuses)))
            .order_by(manual_tasks.c.created_at)
            .limit(limit)
        )
        return [_to_task(r._mapping) for r in rows]
