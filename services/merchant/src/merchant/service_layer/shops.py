"""Shop use cases: open a shop, change its settings or its status, find it by id, slug or host, list them.
Every change commits the shop and a ShopChanged carrying the whole shop in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import asdict
from datetime import UTC, datetime
from uuid import UUID, uuid4

from faka_common.contracts.shops import ShopStatus
from faka_common.errors import NotFound

from merchant.domain.commands import ChangeShop, ChangeShopStatus, OpenShop, SetShopFeeRate
from merchant.domain.shops import Shop, check_slug, normalize_host
from merchant.service_layer.unit_of_work import MerchantUnitOfWork

log = logging.getLogger(__name__)


async def open_shop(cmd: OpenShop, uow: MerchantUnitOfWork) -> Shop:
    """Store a new shop and announce it."""
    shop = Shop.open(id=uuid4(), now=datetime.now(UTC), **asdict(cmd))
    async with uow:
        await uow.shops.add(shop)
        uow.publish(shop.changed())
        await uow.commit()
    log.info("shop %s opened as %s (%s)", shop.id, shop.slug, shop.status)
    return shop


async def change_shop(cmd: ChangeShop, uow: MerchantUnitOfWork) -> Shop:
    """Change a shop's settings; nothing is stored or announced when they are the same."""
    now = datetime.now(UTC)

    def change(shop: Shop) -> Shop:
        return shop.with_settings(
            now=now,
            name=cmd.name,
            contact=cmd.contact,
            currency=cmd.currency,
            languages=cmd.languages,
            domains=cmd.domains,
        )

    return await _change(cmd.shop_id, uow, change)


async def change_shop_status(cmd: ChangeShopStatus, uow: MerchantUnitOfWork) -> Shop:
    """Move a shop to another status along NEXT_STATUSES; asking for the status it has changes nothing."""
    now = datetime.now(UTC)
    return await _change(cmd.shop_id, uow, lambda shop: shop.with_status(cmd.status, now=now))


async def set_fee_rate(cmd: SetShopFeeRate, uow: MerchantUnitOfWork) -> Shop:
    """Set the platform's fee on the shop's sales (None: back to the platform's default)."""
    now = datetime.now(UTC)
    return await _change(cmd.shop_id, uow, lambda shop: shop.with_fee_rate(cmd.fee_rate_bps, now=now))


async def _change(shop_id: UUID, uow: MerchantUnitOfWork, change: Callable[[Shop], Shop]) -> Shop:
    """`change` applied to the shop read under lock, stored and announced, unless it leaves the shop as it
    is."""
    async with uow:
        before = _found(await uow.shops.get(shop_id, for_update=True), f"no shop {shop_id}")
        after = change(before)
        if after is before:
            return before
        await uow.shops.update(before, after)
        uow.publish(after.changed())
        await uow.commit()
    log.info("shop %s (%s) changed; it is %s", after.id, after.slug, after.status)
    return after


async def get_shop(shop_id: UUID, uow: MerchantUnitOfWork) -> Shop:
    async with uow:
        return _found(await uow.shops.get(shop_id), f"no shop {shop_id}")


async def shop_by_slug(slug: str, uow: MerchantUnitOfWork) -> Shop:
    check_slug(slug)
    async with uow:
        return _found(await uow.shops.by_slug(slug), f"no shop has the slug {slug!r}")


async def shop_by_host(host: str, uow: MerchantUnitOfWork) -> Shop:
    domain = normalize_host(host)
    async with uow:
        return _found(await uow.shops.by_host(domain), f"no shop has the domain {domain!r}")


async def list_shops(
    uow: MerchantUnitOfWork, *, after: str | None, limit: int, statuses: Collection[ShopStatus] = ()
) -> list[Shop]:
    """A page of shops in slug order."""
    async with uow:
        return await uow.shops.page(after=after, limit=limit, statuses=statuses)


async def fee_rates(uow: MerchantUnitOfWork, shop_ids: Collection[UUID] | None) -> dict[UUID, int | None]:
    """The fee rates of the shops named (those that exist), or of every shop whose rate is set."""
    async with uow:
        return await uow.shops.fee_rates(shop_ids)


async def named_shop(uow: MerchantUnitOfWork, ref: str, *, for_update: bool = False) -> Shop:
    """The shop `ref` names by its id or its slug (inside the caller's unit of work; with `for_update`,
    locked); NotFound when none has it."""
    try:
        shop_id: UUID | None = UUID(ref)
    except ValueError:
        by_slug = await uow.shops.by_slug(ref)
        shop_id = by_slug.id if by_slug else None
    shop = None if shop_id is None else await uow.shops.get(shop_id, for_update=for_update)
    return _found(shop, f"no shop has the id or slug {ref!r}")


def _found(shop: Shop | None, missing: str) -> Shop:
    if shop is None:
        raise NotFound(missing)
    return shop
