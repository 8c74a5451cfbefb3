"""Re-sealing a table's sealed values with the keyring's new active key, on real Postgres: every value moves
to the new key and still opens under its own row's context, batch after batch; a value that does not open
is counted and left as it is; a second run finds nothing to do."""

from __future__ import annotations

import os
import uuid

import pytest
from faka_common.crypto import KeyRing, Sealed
from faka_common.db.engine import create_engine, session_factory
from faka_common.db.resealing import SealedColumns, SealedTable, reseal
from faka_common.testing import server_url
from sqlalchemy import Column, LargeBinary, MetaData, Table, Text, insert, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID

pytestmark = pytest.mark.integration

OLD, NEW = os.urandom(32), os.urandom(32)
FINGERPRINTS = b"fingerprint secret"


def context(owner: uuid.UUID, name: str, what: str) -> bytes:
    return f"test:{what}:{owner}:{name}".encode()


@pytest.fixture
async def table() -> object:
    engine = create_engine(server_url(), pool_size=2)
    metadata = MetaData()
    sealed = Table(
        f"sealed_{uuid.uuid4().hex[:12]}",
        metadata,
        Column("owner", PgUUID(as_uuid=True), primary_key=True),
        Column("name", Text, primary_key=True),
        Column("secret_key_id", Text, nullable=False),
        Column("secret", LargeBinary, nullable=False),
        Column("extra_key_id", Text),
        Column("extra", LargeBinary),
    )
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine, sealed
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
    await engine.dispose()


def spec(sealed: Table) -> SealedTable:
    return SealedTable(
        sealed,
        key=[sealed.c.owner, sealed.c.name],
        values=[
            SealedColumns(
                sealed.c.secret_key_id, sealed.c.secret, lambda r: context(r.owner, r.name, "secret")
            ),
            SealedColumns(sealed.c.extra_key_id, sealed.c.extra, lambda r: context(r.owner, r.name, "extra")),
        ],
    )


async def test_every_value_moves_to_the_new_key_batch_by_batch_and_opens_under_its_own_row(
    table: object,
) -> None:
    engine, sealed = table  # type: ignore[misc]
    old = KeyRing({"k1": OLD}, "k1", FINGERPRINTS)
    rotated = KeyRing({"k1": OLD, "k2": NEW}, "k2", FINGERPRINTS)
    owners = [(uuid.uuid4(), f"row-{i}") for i in range(230)]
    rows = []
    for i, (owner, name) in enumerate(owners):
        secret = old.seal(f"secret {i}", context(owner, name, "secret"))
        extra = old.seal(f"extra {i}", context(owner, name, "extra")) if i % 2 else None
        rows.append(
            {
                "owner": owner,
                "name": name,
                "secret_key_id": secret.key_id,
                "secret": secret.blob,
                "extra_key_id": extra.key_id if extra else None,
                "extra": extra.blob if extra else None,
            }
        )
    # one row already under the new key: not touched, not counted
    rows[0]["secret_key_id"], rows[0]["secret"] = (
        "k2",
        rotated.seal("secret 0", context(*owners[0], "secret")).blob,
    )
    async with engine.begin() as connection:
        await connection.execute(insert(sealed), rows)

    outcome = await reseal(session_factory(engine), rotated, [spec(sealed)], batch=40)

    assert (outcome.resealed, outcome.unreadable) == (229 + 115, 0)
    only_new = KeyRing({"k2": NEW}, "k2", FINGERPRINTS)
    async with engine.connect() as connection:
        stored = (await connection.execute(select(sealed))).all()
    assert len(stored) == 230
    for row in stored:
        i = int(row.name.removeprefix("row-"))
        assert row.secret_key_id == "k2"
        assert (
            only_new.open(Sealed("k2", row.secret), context(row.owner, row.name, "secret")) == f"secret {i}"
        )
        if i % 2:
            assert row.extra_key_id == "k2"
            assert (
                only_new.open(Sealed("k2", row.extra), context(row.owner, row.name, "extra")) == f"extra {i}"
            )
        else:
            assert (row.extra_key_id, row.extra) == (None, None)
    again = await reseal(session_factory(engine), rotated, [spec(sealed)], batch=40)
    assert (again.resealed, again.unreadable) == (0, 0)


async def test_a_value_that_does_not_open_is_counted_and_left_as_it_is(table: object) -> None:
    engine, sealed = table  # type: ignore[misc]
    old = KeyRing({"k1": OLD}, "k1", FINGERPRINTS)
    a, b = (uuid.uuid4(), "a"), (uuid.uuid4(), "b")
    own = old.seal("a's secret", context(*a, "secret"))
    copied = old.seal("b's secret", context(*b, "secret"))  # b's blob put in a's row does not open there
    gone = Sealed("k0", b"\x00" * 40)  # a key id the keyring no longer has
    async with engine.begin() as connection:
        await connection.execute(
            insert(sealed),
            [
                {"owner": a[0], "name": "a", "secret_key_id": "k1", "secret": own.blob},
                {"owner": b[0], "name": "b", "secret_key_id": "k1", "secret": copied.blob},
                {"owner": uuid.uuid4(), "name": "c", "secret_key_id": gone.key_id, "secret": gone.blob},
            ],
        )
    async with engine.begin() as connection:
        await connection.execute(sealed.update().where(sealed.c.name == "b").values(owner=uuid.uuid4()))

    rotated = KeyRing({"k1": OLD, "k2": NEW}, "k2", FINGERPRINTS)
    outcome = await reseal(session_factory(engine), rotated, [spec(sealed)])

    assert (outcome.resealed, outcome.unreadable) == (1, 2)
    async with engine.connect() as connection:
        key_ids = dict((await connection.execute(select(sealed.c.name, sealed.c.secret_key_id))).all())
    assert key_ids == {"a": "k2", "b": "k1", "c": "k0"}
