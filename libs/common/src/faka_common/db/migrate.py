"""Migrate one service's database and exit: the Kubernetes migration Job's command.

    python -m faka_common.db.migrate [SERVICE]

SERVICE defaults to FAKA_SERVICE (every service image sets it); the database is DATABASE_URL's. Only these
two are read: the Job is given its service's database URL and no other secret. Several runs at once are
safe (the migrations hold an advisory lock), and a database already at the newest revision is left as is."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
from pathlib import Path

from faka_common.db.migrations import schema_behind, upgrade


def migrations_of(service: str) -> Path:
    """The service's migrations directory (its `config.MIGRATIONS`)."""
    try:
        config = importlib.import_module(f"{service}.config")
    except ModuleNotFoundError as missing:
        raise SystemExit(f"no service {service!r} in this image ({missing})") from None
    return Path(config.MIGRATIONS)


async def migrate(service: str, database_url: str) -> None:
    script_location = migrations_of(service)
    await upgrade(database_url, script_location)
    behind = await schema_behind(database_url, script_location)
    if behind is not None:
        raise SystemExit(f"{service}: still behind after migrating: {behind}")
    print(f"{service}: database at the newest revision", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m faka_common.db.migrate", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("service", nargs="?", default=os.environ.get("FAKA_SERVICE"))
    args = parser.parse_args(argv)
    if not args.service:
        parser.error("name the service (or set FAKA_SERVICE)")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        parser.error("DATABASE_URL is not set")
    asyncio.run(migrate(args.service, database_url))


if __name__ == "__main__":
    main()
