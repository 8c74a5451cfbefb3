"""Statements compiled once and run on the driver (`faka_common.db.statements.Compiled`) take and give the
same values as the session would, inside the session's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from faka_common.db.engine import create_engine, session_factory
from faka_common.db.statements import Compiled
from faka_common.testing import server_url
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

pytestmark = pytest.mark.integration


def _table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", PgUUID(as_uuid=True), primary_key=True),
        Column("kind", Text, nullable=False),
        Column("fields", JSONB, nullable=False),
        Column("active", Boolean, nullable=False),
        Column("at", DateTime(timezone=True)),
        Column("n", Integer),
    )


@pytest.fixture
async def things():  # type: ignore[no-untyped-def]
    engine = create_engine(server_url(), pool_size=1)
    table = _table(f"compiled_{uuid.uuid4().hex[:12]}")
    async with engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
    try:
        yield engine, table
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
        await engine.dispose()


async def test_a_compiled_insert_stores_what_the_sessions_insert_stores(things) -> None:  # type: ignore[no-untyped-def]
    engine, table = things
    keys = ["id", "kind", "fields", "active", "at", "n"]
    at = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    values = {"kind": "card", "fields": {"qq": "12345", "note": "ä"}, "active": True, "at": at, "n": None}
    async with session_factory(engine)() as session:
        await Compiled(insert(table), keys).run(session, {"id": ours, **values})
        await session.execute(insert(table), {"id": theirs, **values})
        await session.commit()
    by_id = Compiled(select(table).where(table.c.id == bindparam("id")))
    async with session_factory(engine)() as session:
        mine, other = await by_id.first(session, {"id": ours}), await by_id.first(session, {"id": theirs})
    assert mine is not None and other is not None
    assert {**mine, "id": None} == {**other, "id": None}
    assert mine["fields"] == {"qq": "12345", "note": "ä"} and mine["active"] is True and mine["at"] == at
    assert mine["id"] == ours


async def test_a_compiled_statement_runs_in_the_sessions_transaction(things) -> None:  # type: ignore[no-untyped-def]
    engine, table = things
    add = Compiled(insert(table), ["id", "kind", "fields", "active"])
    async with session_factory(engine)() as session:
        await add.run(session, {"id": uuid.uuid4(), "kind": "gone", "fields": {}, "active": False})
        await session.rollback()
    async with engine.connect() as connection:
        assert (await connection.execute(select(table))).all() == []


async def test_values_bound_in_the_statement_are_used_and_given_ones_are_not_required_twice(things) -> None:  # type: ignore[no-untyped-def]
    engine, table = things
    add = Compiled(insert(table), ["id", "kind", "fields", "active", "n"])
    async with session_factory(engine)() as session:
        for kind, n in (("card", 1), ("card", 2), ("loop", 3)):
            await add.run(session, {"id": uuid.uuid4(), "kind": kind, "fields": {}, "active": True, "n": n})
        cards = Compiled(select(table.c.n).where(table.c.kind == "card", table.c.n > bindparam("least")))
        assert [row["n"] for row in await cards.rows(session, {"least": 1})] == [2]
        await session.rollback()


def test_statements_it_cannot_run_as_compiled_are_refused_when_built() -> None:
    table = _table("refused")
    with pytest.raises(ValueError, match="expanding"):
        Compiled(select(table).where(table.c.id.in_(bindparam("ids", expanding=True))))
