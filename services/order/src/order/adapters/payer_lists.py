"""The payment accounts the risk service's blocklists name, as it publishes them to Redis per scope (the
platform's and each shop's: `faka_common.contracts.risk_rules.payers_key`): one round trip tells whether a
paid order's payer is blocked before the order service announces the payment."""

from __future__ import annotations

from typing import Literal, Protocol
from uuid import UUID

from faka_common.contracts.risk_rules import payers_key
from faka_common.errors import Unavailable
from redis.asyncio import Redis
from redis.exceptions import RedisError

Blocker = Literal["platform", "shop"]


class PayerLists(Protocol):
    async def blocked(self, shop_id: UUID, account: str) -> Blocker | None:
        """Whose blocklist names the account (the platform's first), or None; Unavailable when the lists
        cannot be read."""

    async def aclose(self) -> None: ...


class NoPayerLists:
    """Blocks nobody: providers without risk's lists (tests, tools)."""

    async def blocked(self, shop_id: UUID, account: str) -> Blocker | None:
        return None

    async def aclose(self) -> None:
        return None


class RedisPayerLists:
    def __init__(self, url: str, namespace: str = "", timeout: float = 1.0) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._namespace = namespace

    async def blocked(self, shop_id: UUID, account: str) -> Blocker | None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.sismember(payers_key(self._namespace, "platform"), account)
                pipe.sismember(payers_key(self._namespace, str(shop_id)), account)
                platform, shop = await pipe.execute()
        except (RedisError, OSError) as error:
            raise Unavailable(f"the risk lists' Redis is unreachable: {type(error).__name__}") from error
        return "platform" if platform else "shop" if shop else None

    async def aclose(self) -> None:
        await self._redis.aclose()
