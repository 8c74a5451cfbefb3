"""Rebuild the storefront read model in Redis from Postgres, every shop's catalog (each marked built):
`python -m inventory.rebuild_storefront`.

The running service rebuilds it at startup and whenever it finds it stale (a flushed Redis, a missed
write); this is the same rebuild on demand. Every write is version-guarded, so it is safe beside live
traffic and safe to re-run."""

import asyncio
import logging

from faka_common.db.engine import create_engine, session_factory

from inventory.adapters.catalog_projection import RedisCatalogProjection
from inventory.config import Settings
from inventory.service_layer import catalog as catalog_ops
from inventory.service_layer.unit_of_work import InventoryUnitOfWork


async def main() -> int:
    settings = Settings()
    engine = create_engine(settings.database_url)
    catalog = RedisCatalogProjection(settings.redis_url, prefix=settings.kafka_namespace)
    try:
        async with InventoryUnitOfWork(session_factory(engine)) as uow:
            count = await catalog_ops.rebuild_storefront(uow, catalog)
    finally:
        await catalog.aclose()
        await engine.dispose()
    print(f"storefront read model rebuilt: {count} products")
    return count


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
