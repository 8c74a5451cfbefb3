"""A shop's payment channels: the shop's operators set them (credentials sealed at rest, never shown), and
a payment of the shop's order is collected through the shop's channel when it has one, else the platform's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from faka_common.contracts.payment_channels import Credentials, ProviderName
from faka_common.errors import Conflict, NotFound

from order.adapters.payment_channels import ChannelAdapters
from order.adapters.payments.base import PaymentAdapter
from order.adapters.payments.registry import PaymentProviders
from order.config import Settings
from order.domain.model import Order
from order.domain.payment_channels import PLATFORM, SHOP, Collector, ProviderNotOffered, ShopChannel
from order.domain.payments import SANDBOX, BadNotification
from order.domain.shops import SLUG
from order.service_layer.unit_of_work import OrderUnitOfWork


async def shop_channels(uow: OrderUnitOfWork, shop_id: UUID) -> list[ShopChannel]:
    async with uow:
        return await uow.channels.all(shop_id)


async def put_channel(
    uow: OrderUnitOfWork,
    shop_id: UUID,
    provider: ProviderName,
    enabled: bool,
    credentials: Credentials,
    providers: PaymentProviders,
    settings: Settings,
) -> ShopChannel:
    """Set the shop's channel of `provider` (its credentials replace any it had): the credentials are checked
    as the platform's own are (the adapter must be able to use them), then sealed."""
    if provider == SANDBOX and SANDBOX not in settings.payment_providers:
        raise ProviderNotOffered("the sandbox takes no money and is not enabled on this platform")
    shops = _shops(providers)
    shops.check(provider, credentials)
    sealed = shops.seal(shop_id, provider, credentials)
    channel = ShopChannel(
        shop_id, provider, enabled, credentials.shown(), sealed.key_id, sealed.blob, datetime.now(UTC)
    )
    async with uow:
        await uow.channels.put(channel)
        await uow.commit()
    return channel


async def remove_channel(uow: OrderUnitOfWork, shop_id: UUID, provider: str) -> None:
    """The shop collects with `provider` no more (the platform's, if it offers it, takes over)."""
    async with uow:
        if not await uow.channels.remove(shop_id, provider):
            raise NotFound(f"the shop has no {provider} payment channel")
        await uow.commit()


@dataclass(frozen=True)
class Collecting:
    """Who collects a payment, and the adapter that speaks to the provider for them."""

    adapter: PaymentAdapter
    collected_by: Collector


def _shops(providers: PaymentProviders) -> ChannelAdapters:
    if providers.shops is None:
        raise Conflict("shops' payment channels are not available here")
    return providers.shops


async def _shop_adapter(
    uow: OrderUnitOfWork, providers: PaymentProviders, channel: ShopChannel
) -> Collecting:
    shop = await uow.shops.get(channel.shop_id)
    if shop is None or not SLUG.fullmatch(shop.slug):
        raise Conflict("the shop is not known here yet; try again in a moment")
    return Collecting(_shops(providers).adapter(channel, shop.slug), SHOP)


async def offered(
    uow: OrderUnitOfWork, providers: PaymentProviders, shop_id: UUID, product_id: UUID, amount: int
) -> list[str]:
    """What a buyer of the shop may pay this product and amount with: the platform's channels for it, then
    the shop's own enabled channels."""
    own: list[str] = []
    if providers.shops is not None:
        async with uow:
            own = await uow.channels.enabled(shop_id)
    return offered_with(providers, product_id, amount, own)


def offered_with(providers: PaymentProviders, product_id: UUID, amount: int, own: list[str]) -> list[str]:
    """`offered`, given the shop's enabled channels (`own`, read already: with the order, say)."""
    methods = providers.channels_for(product_id, amount)
    if providers.shops is not None:
        methods += [name for name in own if name not in methods]
    return methods


async def collecting(
    uow: OrderUnitOfWork, providers: PaymentProviders, shop_id: UUID, provider: str
) -> Collecting:
    """Who collects a new payment of the shop's order with `provider`: the shop's enabled channel if it has
    one, else the platform's."""
    if providers.shops is not None:
        channel = await uow.channels.get(shop_id, provider)
        if channel is not None and channel.enabled:
            return await _shop_adapter(uow, providers, channel)
    return Collecting(providers.get(provider), PLATFORM)


async def collector_of(
    uow: OrderUnitOfWork, providers: PaymentProviders, shop_id: UUID, provider: str, collected_by: Collector
) -> PaymentAdapter:
    """The adapter that speaks for whoever collected (or is collecting) a payment: to ask about it or refund
    it. The shop's channel, even disabled, while it exists."""
    if collected_by == PLATFORM:
        return providers.get(provider)
    channel = await uow.channels.get(shop_id, provider) if providers.shops is not None else None
    if channel is None:
        raise NotFound(
            f"the shop's {provider} payment channel is gone; settle this payment with the provider"
        )
    return (await _shop_adapter(uow, providers, channel)).adapter


async def verifying(
    uow: OrderUnitOfWork, providers: PaymentProviders, shop_id: UUID | None, provider: str
) -> Collecting:
    """Whose credentials verify a notification: the shop's channel (even disabled) when it came to the shop's
    path and the shop has one, else the platform's."""
    if shop_id is not None and providers.shops is not None:
        async with uow:
            channel = await uow.channels.get(shop_id, provider)
            if channel is not None:
                return await _shop_adapter(uow, providers, channel)
    return Collecting(providers.get(provider), PLATFORM)


async def expected_collector(uow: OrderUnitOfWork, order: Order, provider: str) -> Collector:
    """Who collects the order's payment with `provider`: whom the buyer was sent to pay when they started
    paying with it, else (the sandbox's checkout needs no start) the shop if its channel is enabled now."""
    return collector_of_answers(*await uow.channels.collector(order.id, order.shop_id, provider))


def collector_of_answers(started: str | None, shop_enabled: bool) -> Collector:
    """`expected_collector` from its two answers (`PaymentChannelRepository.collector`'s)."""
    if started is not None:
        return SHOP if started == SHOP else PLATFORM
    return SHOP if shop_enabled else PLATFORM


def check_collector(expected: Collector, verified_by: Collector, order_no: str) -> None:
    """A notification verified with one collector's credentials for an order the other collects is refused."""
    if expected != verified_by:
        raise BadNotification(
            f"order {order_no[:64]} is paid to the {expected}'s account, not with the {verified_by}'s "
            "credentials"
        )
