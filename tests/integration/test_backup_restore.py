"""The restore drill: a running platform with sold and unsold keys is backed up (deploy/local/backup.py,
what `make backup` runs), restored into a PostgreSQL server and a Redis started fresh for the test, and
started again on a new Kafka namespace. The restored platform must hold exactly what was backed up, open its
unsold keys with the keyring (which the backup does not contain), keep its sold keys sold, rebuild the
storefront from Postgres, and go on selling."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx
import pytest
from faka_common.contracts.storefront import catalog_key, stock_key
from faka_common.testing import database_url_for, drop_database, eventually
from redis.asyncio import Redis

from .e2e_platform import SERVICES, Platform, free_port, running_platform
from .test_sale import create_product, notification, notify, order_view, place_order, wait_for_status

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _load_backup_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faka_backup", ROOT / "deploy" / "local" / "backup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


backup = _load_backup_tool()


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: the tests then run them as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@asynccontextmanager
async def fresh_postgres(server_options: str = "") -> AsyncIterator[str]:
    """A PostgreSQL server of its own (initdb into a temporary directory, on a free loopback port), started
    with `server_options` too (e.g. TLS)."""
    bindir = Path(backup.pg_tool("initdb")).parent
    base = Path(tempfile.mkdtemp(prefix="faka-restore-pg-"))
    data, port = base / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "--username=postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C"]),
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
    options = f"{options} {server_options}".strip()
    pg_ctl = str(bindir / "pg_ctl")
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-l", str(base / "log"), "-o", options, "-w", "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@asynccontextmanager
async def fresh_redis() -> AsyncIterator[str]:
    """A Redis of its own, empty, keeping nothing on disk."""
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is not installed: `make infra-up` installs it"
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()


async def buy(platform: Platform, product_id: str) -> dict[str, Any]:
    order = await place_order(platform, product_id, f"drill-{uuid.uuid4().hex[:6]}@example.com")
    await wait_for_status(platform, order, "awaiting_payment")
    assert (await notify(platform, notification(platform, order))).status_code == 200
    delivered = await wait_for_status(platform, order, "delivered")
    return {**order, "key": delivered["items"][0]["content"]}


async def unsold_keys(platform: Platform, product_id: str) -> set[str]:
    assert platform.operator is not None
    await platform.operator.step_up()
    async with platform.admin() as admin:
        exported = await admin.get(f"/api/admin/products/{product_id}/keys/unsold")
    assert exported.status_code == 200, exported.text
    return {line for line in exported.text.splitlines() if line}


async def storefront_stock(platform: Platform, product_id: str) -> int | None:
    """What the storefront's read model in Redis says is available (None: the product is not in it)."""
    prefix = platform.env("inventory")["KAFKA_NAMESPACE"]
    redis = Redis.from_url(platform.redis_url, decode_responses=True)
    try:
        if not await redis.exists(catalog_key(prefix, uuid.UUID(product_id))):
            return None
        available = await redis.hget(stock_key(prefix, uuid.UUID(product_id)), "available")
    finally:
        await redis.aclose()
    return None if available is None else int(available)


async def test_a_backup_restored_into_fresh_servers_keeps_every_row_opens_its_keys_and_sells_on(
    infrastructure: dict[str, str], tmp_path: Path
) -> None:
    keys = [f"DRILL-{uuid.uuid4().hex[:16].upper()}" for _ in range(6)]
    backup_dir = tmp_path / "backup"
    async with running_platform(infrastructure) as first:
        product_id = await create_product(first, keys, title="Restore drill")
        sold = [await buy(first, product_id) for _ in range(2)]
        manifest = await backup.back_up({s: first.database(s) for s in SERVICES}, backup_dir)
        keyring = first.secrets
    # the first platform and its databases are gone now: what follows has only the backup and the keyring

    assert set(manifest["services"]) == set(SERVICES)
    assert manifest["services"]["order"]["tables"]["public.orders"] >= 2
    dumps = b"".join((backup_dir / entry["file"]).read_bytes() for entry in manifest["services"].values())
    assert not [key for key in keys if key.encode() in dumps], "a card key is readable in the backup"
    assert keyring["KEY_ENCRYPTION_KEYS"].split(":", 1)[1].encode() not in dumps

    async with fresh_postgres() as server, fresh_redis() as redis_url:
        restored = Platform(server, infrastructure["KAFKA_BOOTSTRAP_SERVERS"], redis_url)
        restored.secrets = dict(keyring)
        report = await backup.restore(backup_dir, {s: restored.database(s) for s in SERVICES})
        assert report["services"]["order"]["outbox_replayed"] > 0
        await restored.start()
        try:
            for order in sold:  # the buyers' links still open their orders, with the same keys
                view = await order_view(restored, order["order_no"], order["token"])
                assert view["status"] == "delivered"
                assert [item["content"] for item in view["items"]] == [order["key"]]

            sold_keys = {order["key"] for order in sold}
            assert await unsold_keys(restored, product_id) == set(keys) - sold_keys

            async def listed() -> bool:  # inventory rebuilt it from Postgres into the empty Redis
                return await storefront_stock(restored, product_id) == len(keys) - len(sold)

            await eventually(listed, timeout=30)

            after = await buy(restored, product_id)
            assert after["key"] in set(keys) - sold_keys
            async with httpx.AsyncClient() as client:
                ready = await client.get(f"{restored.gateway}/health/ready")
            assert ready.status_code == 200
        finally:
            await restored.stop()

        conn = await asyncpg.connect(backup.plain_dsn(restored.database("inventory")))
        try:
            counted = await conn.fetchval("SELECT count(*) FROM card_keys")
        finally:
            await conn.close()
        assert counted == len(keys)


@pytest.fixture
async def small_database(infrastructure: dict[str, str]) -> AsyncIterator[str]:
    """A database with one table of three rows and an outbox, dropped afterwards with its restored copies."""
    server = infrastructure["DATABASE_URL"]
    name = f"t_backup_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url_for(server, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(database_url_for(server, name))
    try:
        await conn.execute("CREATE TABLE things (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO things SELECT generate_series(1, 3)")
        await conn.execute("CREATE TABLE outbox (id int PRIMARY KEY, published_at timestamptz)")
        await conn.execute("INSERT INTO outbox VALUES (1, now() - interval '1 hour'), (2, now()), (3, NULL)")
    finally:
        await conn.close()
    yield database_url_for(server, name)
    for suffix in ("", "_copy", "_other"):
        await drop_database(server, name + suffix)


async def test_a_restore_refuses_a_database_that_holds_tables_before_it_restores_anything(
    small_database: str, tmp_path: Path
) -> None:
    await backup.back_up({"order": small_database, "risk": small_database}, tmp_path / "b")
    with pytest.raises(backup.BackupError, match="holds 2 tables"):
        await backup.restore(tmp_path / "b", {"order": small_database + "_copy", "risk": small_database})
    copy = await backup.database_exists(small_database + "_copy")
    assert not copy, "order was restored although risk's target was refused"


async def test_a_restore_checks_every_table_against_the_manifest_and_replays_the_recent_outbox(
    small_database: str, tmp_path: Path
) -> None:
    await backup.back_up({"order": small_database}, tmp_path / "b")
    report = await backup.restore(tmp_path / "b", {"order": small_database + "_copy"})
    # the row published an hour before the backup stays published; the one just published goes again
    assert report["services"]["order"] == {
        "database": small_database.rsplit("/", 1)[1] + "_copy",
        "rows": 6,
        "outbox_replayed": 1,
    }

    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["services"]["order"]["tables"]["public.things"] = 4
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(backup.BackupError, match=r"differ from the manifest in public\.things"):
        await backup.restore(tmp_path / "b", {"order": small_database + "_other"})


async def test_a_restore_refuses_what_is_not_a_backup_or_lacks_a_database(
    small_database: str, tmp_path: Path
) -> None:
    with pytest.raises(backup.BackupError, match=r"has no manifest\.json"):
        await backup.restore(tmp_path, {"order": small_database})
    await backup.back_up({"order": small_database}, tmp_path / "b")
    with pytest.raises(backup.BackupError, match="no database given for order"):
        await backup.restore(tmp_path / "b", {})
