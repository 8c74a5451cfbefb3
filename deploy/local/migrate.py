"""Runs every service's migrations against its own database (`make migrate`)."""

import asyncio
import importlib

from faka_common.db.migrations import upgrade

SERVICES = ("gateway", "order", "inventory", "delivery", "risk", "commission", "notification", "merchant")


async def main() -> None:
    for service in SERVICES:
        config = importlib.import_module(f"{service}.config")
        # only the database URL is read here: no secrets to check
        settings = config.Settings(environment="development")
        await upgrade(settings.database_url, config.MIGRATIONS)
        print(f"{service}: migrated")


if __name__ == "__main__":
    asyncio.run(main())
