"""Re-seal every stored key with the active encryption key id: `python -m inventory.reencrypt`.

Run after adding a new key to KEY_ENCRYPTION_KEYS (and making it active); once it reports 0 left, the old
key can be removed from the keyring. Safe beside live traffic and safe to re-run."""

import asyncio
import logging

from faka_common.db.engine import create_engine, session_factory

from inventory.config import Settings
from inventory.service_layer import handlers
from inventory.service_layer.unit_of_work import InventoryUnitOfWork


async def main() -> int:
    settings = Settings()
    keyring = settings.keyring()
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        count = await handlers.reencrypt(lambda: InventoryUnitOfWork(sessions), keyring)
    finally:
        await engine.dispose()
    print(f"re-sealed {count} keys with key id {keyring.active}")
    return count


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
