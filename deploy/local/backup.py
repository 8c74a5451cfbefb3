"""Backs up every service's database and restores it: `make backup` (into .state/backups/<time>/, or
BACKUP_DIR) and `make restore BACKUP=<dir>` (into empty databases; the services stopped).

A backup is one `pg_dump` custom-format file per service database plus `manifest.json`. Each database is
dumped from an exported snapshot, and the manifest's row count of every table is read in that same snapshot,
so a restore proves itself: every table must come back with exactly the rows the manifest names.

What is not in a backup, on purpose:
- the keyring (KEY_ENCRYPTION_KEYS) and every other secret: card keys, supplier and payment credentials are
  sealed in the dumps and open only with the keyring, which must be kept apart (a secret store). A stolen
  backup is then sealed text; a lost keyring makes the backup's keys unreadable, so back it up too,
  elsewhere;
- Kafka: every message a service emitted is also in its outbox table. The databases are dumped one after
  another, so a message one service published just before its dump may reach another service after that
  one's dump. A restore therefore marks the outbox rows published in the last `--replay-minutes` (15)
  before the backup as unpublished: the relays publish them again into the new cluster and the consumers'
  inboxes skip what they had already handled. The outboxes keep published rows `OUTBOX_KEEP_HOURS` (24,
  `faka_common.messaging.retention`), so a longer replay window finds no older rows than that;
- Redis: caches, rate-limit windows and the storefront's read model, which inventory rebuilds from Postgres
  when it finds Redis empty.

Run it where `pg_dump` and `pg_restore` of the server's major version are (the local PostgreSQL packages)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SERVICES = ("gateway", "order", "inventory", "delivery", "risk", "commission", "notification", "merchant")
MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why and what to do."""


def pg_tool(name: str) -> str:
    """`pg_dump` / `pg_restore` of the newest PostgreSQL installed (Debian keeps each major version's tools
    under /usr/lib/postgresql/<version>/bin; /usr/bin holds a wrapper that wants a configured cluster)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name or 0))
    for bindir in reversed(versions):
        if (bindir / name).is_file():
            return str(bindir / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL packages (`make infra-up` does)")
    return found


def plain_dsn(url: str) -> str:
    """The libpq form of a service's database URL (asyncpg and the pg tools read it)."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith(("postgresql", "postgres")) else url


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def server_url(url: str, database: str = "postgres") -> str:
    parts = urlsplit(plain_dsn(url))
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def service_databases() -> dict[str, str]:
    """Each service's database URL: DATABASE_URL_<SERVICE> (the Kubernetes CronJob sets them from the
    services' secrets), else the service's own settings (locally: its default database)."""
    urls = {}
    for service in SERVICES:
        given = os.environ.get(f"DATABASE_URL_{service.upper()}")
        if given:
            urls[service] = given
            continue
        config = importlib.import_module(f"{service}.config")
        # only the database URL is read: no secret is needed or checked
        urls[service] = config.Settings(environment="development").database_url
    return urls


def prune(root: Path, keep: int) -> list[Path]:
    """Remove all but the `keep` newest backups under `root` (directories with a manifest, named by their
    UTC time so that names sort by age); anything else there is left alone. Returns what was removed."""
    backups = sorted(path for path in root.iterdir() if (path / MANIFEST).is_file())
    gone = backups[: max(0, len(backups) - keep)]
    for path in gone:
        shutil.rmtree(path)
    return gone


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed ({process.returncode}): {err.decode().strip()}")


async def _tables(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """(schemaname, tablename) of the database's own tables, in name order."""
    return await conn.fetch(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    )


async def _table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    counts = {}
    for row in await _tables(conn):
        # names from the catalog, quoted as identifiers
        quoted = await conn.fetchval("SELECT format('%I.%I', $1::text, $2::text)", *row)
        count = await conn.fetchval(f"SELECT count(*) FROM {quoted}")  # noqa: S608
        counts[f"{row['schemaname']}.{row['tablename']}"] = int(count)
    return counts


async def _dump_one(service: str, url: str, directory: Path) -> dict[str, Any]:
    dsn = plain_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        try:
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            counts = await _table_counts(conn)
            file = f"{service}.dump"
            await _run(
                pg_tool("pg_dump"),
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={directory / file}",
                dsn,
            )
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
    return {"database": database_name(url), "file": file, "tables": counts}


def _private_directory(directory: Path) -> None:
    """A new directory only its owner can read: the dumps hold buyers' e-mails and sealed keys."""
    directory.mkdir(parents=True, exist_ok=False)
    os.chmod(directory, 0o700)


async def back_up(databases: Mapping[str, str], directory: Path) -> dict[str, Any]:
    """Dump every database of `databases` (service -> URL) into `directory`, with the manifest."""
    _private_directory(directory)
    manifest: dict[str, Any] = {"format": FORMAT, "taken_at": datetime.now(UTC).isoformat(), "services": {}}
    for service, url in databases.items():
        manifest["services"][service] = await _dump_one(service, url, directory)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} is not a backup: it has no {MANIFEST}")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: format {manifest.get('format')!r}, this tool reads {FORMAT}")
    return manifest


async def database_exists(url: str) -> bool:
    """Whether the server of `url` has its database. (faka_common.db.migrations.ensure_database does the
    like for the services; this tool stays on asyncpg alone, as its image holds no service code.)"""
    server = await asyncpg.connect(server_url(url))
    try:
        return bool(await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database_name(url)))
    finally:
        await server.close()


async def _check_empty(url: str) -> None:
    """Refuse a database that holds tables (a restore never overwrites); a missing one is fine."""
    if not await database_exists(url):
        return
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        tables = len(await _tables(conn))
    finally:
        await conn.close()
    if tables:
        raise BackupError(
            f"database {database_name(url)} holds {tables} tables: a restore goes into an empty or missing "
            "database (drop it, or restore into another server)"
        )


async def _restore_one(
    service: str, entry: Mapping[str, Any], url: str, directory: Path, replay_from: datetime
) -> dict[str, Any]:
    if not await database_exists(url):
        server = await asyncpg.connect(server_url(url))
        try:
            await server.execute(f'CREATE DATABASE "{database_name(url)}"')
        finally:
            await server.close()
    dsn = plain_dsn(url)
    await _run(
        pg_tool("pg_restore"),
        "--no-owner",
        "--exit-on-error",
        f"--dbname={dsn}",
        str(directory / entry["file"]),
    )
    conn = await asyncpg.connect(dsn)
    try:
        counts = await _table_counts(conn)
        if counts != entry["tables"]:
            differ = sorted(
                t for t in set(counts) | set(entry["tables"]) if counts.get(t) != entry["tables"].get(t)
            )
            raise BackupError(f"{service}: restored rows differ from the manifest in {', '.join(differ)}")
        replayed = 0
        if "public.outbox" in counts:
            status = await conn.execute(
                "UPDATE outbox SET published_at = NULL WHERE published_at >= $1", replay_from
            )
            replayed = int(status.split()[-1])
    finally:
        await conn.close()
    return {"database": database_name(url), "rows": sum(counts.values()), "outbox_replayed": replayed}


async def restore(
    directory: Path, databases: Mapping[str, str], replay_minutes: float = 15
) -> dict[str, Any]:
    """Restore every service of the backup in `directory` into `databases` (service -> URL), check each
    table's rows against the manifest, and mark the outbox rows of the replay window for publishing again."""
    manifest = read_manifest(directory)
    missing = sorted(set(manifest["services"]) - set(databases))
    if missing:
        raise BackupError(f"no database given for {', '.join(missing)}")
    replay_from = datetime.fromisoformat(manifest["taken_at"]) - timedelta(minutes=replay_minutes)
    for service in manifest["services"]:  # every target checked before anything is restored
        await _check_empty(databases[service])
    report = {}
    for service, entry in manifest["services"].items():
        report[service] = await _restore_one(service, entry, databases[service], directory, replay_from)
    return {"taken_at": manifest["taken_at"], "services": report}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup", help="dump every service's database")
    backup.add_argument(
        "--root", type=Path, default=Path(".state/backups"), help="backups go to <root>/<UTC time>"
    )
    backup.add_argument("--to", type=Path, help="this new directory instead of <root>/<UTC time>")
    backup.add_argument("--keep", type=int, help="then remove all but this many newest backups under --root")
    again = commands.add_parser("restore", help="restore a backup into empty databases")
    again.add_argument("--from", dest="source", type=Path, required=True, help="the backup's directory")
    again.add_argument(
        "--replay-minutes",
        type=float,
        default=15,
        help="outbox rows published this long before the backup are published again (consumers skip "
        "what they had)",
    )
    args = parser.parse_args()
    databases = service_databases()
    try:
        if args.command == "backup":
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            target = args.to or args.root / stamp
            manifest = asyncio.run(back_up(databases, target))
            rows = sum(sum(s["tables"].values()) for s in manifest["services"].values())
            print(f"backed up {len(manifest['services'])} databases ({rows} rows) into {target}")
            print("the keyring (KEY_ENCRYPTION_KEYS) is not in it: keep it apart, and back it up too")
            if args.keep is not None:
                for path in prune(args.root, args.keep):
                    print(f"removed the older backup {path}")
        else:
            report = asyncio.run(restore(args.source, databases, args.replay_minutes))
            print(json.dumps(report, indent=2))
    except BackupError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
