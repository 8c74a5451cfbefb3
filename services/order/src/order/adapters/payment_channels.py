"""The shops' payment channels (migration 0011): the table, its repository, and the adapters built from a
channel's credentials, opened from the keyring only to build them."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any
from uuid import UUID

import httpx
from cryptography.exceptions import InvalidTag
from faka_common.contracts.payment_channels import CREDENTIALS, Credentials, ProviderName, provider_name
from faka_common.crypto import KeyRing, KeyRingError, Sealed
from faka_common.db.resealing import SealedColumns, SealedTable
from faka_common.db.statements import Compiled, mapping
from faka_common.db.uow import SessionFactory
from faka_common.errors import Unavailable
from sqlalchemy import Boolean, Column, DateTime, LargeBinary, Table, Text, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters.orders import BY_NO_QUERIES, first_by_no, order_of_row
from order.adapters.payments import registry
from order.adapters.payments.base import PaymentAdapter
from order.adapters.tables import metadata, orders, payment_attempts
from order.config import Settings
from order.domain.model import Order
from order.domain.payment_channels import BadCredentials, ShopChannel, seal_context

log = logging.getLogger(__name__)


class ChannelUnreadable(Unavailable):
    """The channel's sealed credentials do not open with this service's keyring (503)."""


#: Adapters kept built (a WeChat Pay adapter keeps the platform certificates it fetched).
CACHED_ADAPTERS = 512

payment_channels = Table(
    "payment_channels",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), primary_key=True),
    Column("provider", Text, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("shown", JSONB, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: What a key rotation re-seals (faka_common.db.resealing): each channel's credentials.
SEALED = SealedTable(
    payment_channels,
    key=[payment_channels.c.shop_id, payment_channels.c.provider],
    values=[
        SealedColumns(
            payment_channels.c.key_id,
            payment_channels.c.sealed,
            lambda r: seal_context(r.shop_id, r.provider),
        )
    ],
)


def _channel(found: Any) -> ShopChannel:
    """The channel of a row (`mapping`)."""
    row = mapping(found)
    return ShopChannel(
        row["shop_id"],
        row["provider"],
        row["enabled"],
        dict(row["shown"]),
        row["key_id"],
        bytes(row["sealed"]),
        row["updated_at"],
    )


#: Read on every view of an order awaiting payment: compiled once.
_ENABLED = Compiled(
    select(payment_channels.c.provider)
    .where(payment_channels.c.shop_id == bindparam("shop_id"), payment_channels.c.enabled)
    .order_by(payment_channels.c.provider)
)
#: Read for every payment notification (is the shop's own channel on?): compiled once.
_CHANNEL = Compiled(
    select(payment_channels).where(
        payment_channels.c.shop_id == bindparam("shop_id"),
        payment_channels.c.provider == bindparam("provider"),
    )
)


def _collector_columns(order_id: Any, shop_id: Any) -> tuple[Any, Any]:
    """Who collects a payment of the order `order_id` of shop `shop_id` with the provider named by the
    `provider` parameter, as two subqueries: whom the buyer's start with the provider sent the money to
    (`started`, NULL: never started) and whether the shop's own channel for it is enabled (`shop_enabled`,
    NULL: it has none). `order_id` and `shop_id`: parameters, or the columns of a row read beside them."""
    provider: Any = bindparam("provider")
    started = select(payment_attempts.c.collected_by).where(
        payment_attempts.c.order_id == order_id, payment_attempts.c.provider == provider
    )
    enabled = select(payment_channels.c.enabled).where(
        payment_channels.c.shop_id == shop_id, payment_channels.c.provider == provider
    )
    return started.scalar_subquery().label("started"), enabled.scalar_subquery().label("shop_enabled")


#: Who collects a payment notification's money, in one statement (`_collector_columns`)
_COLLECTOR = Compiled(select(*_collector_columns(bindparam("order_id"), bindparam("shop_id"))))

#: A payment notification's order by number, its row locked as `OrderRepository.lock_by_no` locks it, with
#: `_COLLECTOR`'s two answers for it: one round trip a sale fewer than the lock and then the collector.
_LOCKED_WITH_COLLECTOR = {
    in_shop: Compiled(
        query.add_columns(*_collector_columns(orders.c.id, orders.c.shop_id)).with_for_update(
            key_share=True, of=orders
        )
    )
    for in_shop, query in BY_NO_QUERIES.items()
}

#: The buyer's order page reads its order by number (every view: twice a sale) with the providers of its
#: shop's enabled channels, what an order awaiting payment may also be paid with: one statement for the
#: view instead of two. (`array(...)`, untyped: asyncpg answers a text[] as a list as it is.)
_WITH_ENABLED = {
    in_shop: Compiled(
        query.add_columns(
            func.array(
                select(payment_channels.c.provider)
                .where(payment_channels.c.shop_id == orders.c.shop_id, payment_channels.c.enabled)
                .order_by(payment_channels.c.provider)
                .scalar_subquery()
            ).label("enabled_channels")
        )
    )
    for in_shop, query in BY_NO_QUERIES.items()
}


class PaymentChannelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self, shop_id: UUID) -> list[ShopChannel]:
        query = (
            select(payment_channels)
            .where(payment_channels.c.shop_id == shop_id)
            .order_by(payment_channels.c.provider)
        )
        return [_channel(row) for row in (await self._session.execute(query)).all()]

    async def get(self, shop_id: UUID, provider: str) -> ShopChannel | None:
        row = await _CHANNEL.first(self._session, {"shop_id": shop_id, "provider": provider})
        return _channel(row) if row else None

    async def collector(self, order_id: UUID, shop_id: UUID, provider: str) -> tuple[str | None, bool]:
        """Whom the buyer's last start of the order with `provider` sent the money to (None: it never
        started), and whether the shop's channel for `provider` is enabled: one round trip for both."""
        params = {"order_id": order_id, "shop_id": shop_id, "provider": provider}
        row = await _COLLECTOR.first(self._session, params)
        assert row is not None, "a SELECT of two scalar subqueries has one row"
        return row["started"], bool(row["shop_enabled"])

    async def lock_order_with_collector(
        self, shop_id: UUID | None, order_no: str, provider: str
    ) -> tuple[Order, str | None, bool] | None:
        """The order by number (in the shop; no shop: of any shop), its row locked as
        `OrderRepository.lock_by_no` locks it, with `collector`'s answers for it and `provider`; None for
        no such order."""
        row = await first_by_no(self._session, _LOCKED_WITH_COLLECTOR, shop_id, order_no, provider=provider)
        if row is None:
            return None
        values = dict(row)
        started, shop_enabled = values.pop("started"), values.pop("shop_enabled")
        return order_of_row(values), started, bool(shop_enabled)

    async def order_with_enabled(self, shop_id: UUID | None, order_no: str) -> tuple[Order, list[str]] | None:
        """The order by number (as `OrderRepository.get_by_no` finds it) with the providers of its shop's
        enabled channels (`enabled`); None for no such order."""
        row = await first_by_no(self._session, _WITH_ENABLED, shop_id, order_no)
        if row is None:
            return None
        values = dict(row)
        enabled = values.pop("enabled_channels")
        return order_of_row(values), list(enabled)

    async def enabled(self, shop_id: UUID) -> list[str]:
        """The providers of the shop's enabled channels, by name."""
        return [row["provider"] for row in await _ENABLED.rows(self._session, {"shop_id": shop_id})]

    async def put(self, channel: ShopChannel) -> None:
        values = {
            "enabled": channel.enabled,
            "shown": channel.shown,
            "key_id": channel.key_id,
            "sealed": channel.sealed,
            "updated_at": channel.updated_at,
        }
        statement = insert(payment_channels).values(
            shop_id=channel.shop_id, provider=channel.provider, **values
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[payment_channels.c.shop_id, payment_channels.c.provider], set_=values
            )
        )

    async def remove(self, shop_id: UUID, provider: str) -> bool:
        result = await self._session.execute(
            delete(payment_channels)
            .where(payment_channels.c.shop_id == shop_id, payment_channels.c.provider == provider)
            .returning(payment_channels.c.provider)
        )
        return result.first() is not None


class ChannelAdapters:
    """Seals a shop's channel credentials, and builds (and keeps) the adapter of a stored channel. Its HTTP
    client goes through the outgoing-URL guard: a shop names its own epay or epusdt gateway."""

    def __init__(
        self, settings: Settings, keyring: KeyRing, http: httpx.AsyncClient, sessions: SessionFactory
    ) -> None:
        self._settings = settings
        self._keyring = keyring
        self._http = http
        self._sessions = sessions
        self._built: OrderedDict[tuple[str, str, bytes], PaymentAdapter] = OrderedDict()

    def check(self, provider: ProviderName, credentials: Credentials) -> None:
        """BadCredentials when the adapter cannot be built with them (a key it cannot read)."""
        try:
            self._build(provider, credentials, self._settings.public_base_url.rstrip("/"))
        except ValueError as error:
            raise BadCredentials(f"{provider} credentials: {error}") from None

    def seal(self, shop_id: UUID, provider: str, credentials: Credentials) -> Sealed:
        return self._keyring.seal(credentials.model_dump_json(), seal_context(shop_id, provider))

    def open(self, channel: ShopChannel) -> Credentials:
        """The channel's credentials; ChannelUnreadable when they do not open with this keyring."""
        try:
            text = self._keyring.open(
                Sealed(channel.key_id, channel.sealed), seal_context(channel.shop_id, channel.provider)
            )
        except (KeyRingError, InvalidTag):
            log.error(
                "shop %s's %s channel is sealed with key id %r and does not open with this keyring (%s): "
                "re-seal before a key leaves the keyring, or the shop sets its credentials again",
                channel.shop_id,
                channel.provider,
                channel.key_id,
                self._keyring,
            )
            raise ChannelUnreadable(
                f"the shop's {channel.provider} channel cannot be used right now; choose another payment "
                "method (the shop must set its credentials again)"
            ) from None
        return CREDENTIALS[provider_name(channel.provider)].model_validate_json(text)

    def adapter(self, channel: ShopChannel, slug: str) -> PaymentAdapter:
        """The channel's adapter, for the shop's storefront at /s/<slug> (its notify URL is there)."""
        site = f"{self._settings.public_base_url.rstrip('/')}/s/{slug}"
        digest = hashlib.sha256(channel.key_id.encode() + b"\0" + channel.sealed).digest()
        key = (f"{channel.shop_id}/{channel.provider}", site, digest)
        built = self._built.get(key)
        if built is None:
            built = self._build(channel.provider, self.open(channel), site)
            self._built[key] = built
            while len(self._built) > CACHED_ADAPTERS:
                self._built.popitem(last=False)
        else:
            self._built.move_to_end(key)
        return built

    def _build(self, provider: str, credentials: Credentials, site: str) -> PaymentAdapter:
        return registry.adapter(provider, credentials, site, self._settings, self._http, self._sessions)

    async def aclose(self) -> None:
        await self._http.aclose()
