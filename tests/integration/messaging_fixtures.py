"""A tiny service used to prove the messaging mechanisms: a `Pinged` message and an `effects` table."""

from __future__ import annotations

import os
from typing import ClassVar
from uuid import UUID

from faka_common.contracts.envelope import Message
from faka_common.db.engine import session_factory
from faka_common.db.tables import messaging_metadata
from faka_common.db.uow import UnitOfWork
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

TOPIC = os.environ.get("FAKA_TEST_TOPIC", "test.pings")

test_metadata = MetaData()
effects = Table(
    "effects",
    test_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Text, nullable=False),
    Column("note", Text, nullable=False),
)


class Pinged(Message):
    type_name: ClassVar[str] = "TestPinged"
    topic: ClassVar[str] = TOPIC

    order_id: UUID
    note: str


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(messaging_metadata.create_all)
        await connection.run_sync(test_metadata.create_all)


async def record_effect(event: Pinged, uow: UnitOfWork) -> None:
    if event.note == "boom":
        raise RuntimeError("handler refuses boom")
    await uow.session.execute(insert(effects).values(order_id=str(event.order_id), note=event.note))


async def count_effects(engine: AsyncEngine, note: str | None = None) -> int:
    query = select(func.count()).select_from(effects)
    if note is not None:
        query = query.where(effects.c.note == note)
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def notes_in_order(engine: AsyncEngine) -> list[str]:
    """The notes of all effects, in the order they were recorded (committed ids ascend)."""
    async with engine.connect() as connection:
        return list((await connection.execute(select(effects.c.note).order_by(effects.c.id))).scalars())


def uow_factory(engine: AsyncEngine, producer: str):  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    return lambda: UnitOfWork(sessions, producer)
