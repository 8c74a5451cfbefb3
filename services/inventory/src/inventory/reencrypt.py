"""Re-seal every stored key with the active encryption key id: `python -m inventory.reencrypt`.

Run after adding a new key to KEY_ENCRYPTION_KEYS (and making it active); once it reports 0 left, the old
key can be removed from the keyring. Safe beside live traffic and safe to re-run."""

import asyncio
import logging

from faka_common.db.engine import create_engine, session_factory
from faka_common.db.resealing import reseal

from inventory.adapters.tables import SEALED
from inventory.config import Settings


async def main() -> int:
    settings = Settings()
    keyring = settings.keyring()
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        outcome = await reseal(sessions, keyring, SEALED)
    finally:
        await engine.dispose()
    print(
        f"re-sealed {outcome.resealed} keys with key id {keyring.active}; "
        f"{outcome.unreadable} did not open (they keep their old key id)"
    )
    return outcome.resealed


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
