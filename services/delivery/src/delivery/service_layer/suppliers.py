"""Supplier administration: register suppliers and routes, record claims, read scores, ask upstreams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from faka_common.crypto import KeyRing
from faka_common.errors import Conflict, DomainError, NotFound, Unavailable
from faka_common.fields import printable_message
from faka_common.outbound import OutboundPolicy
from pydantic import ValidationError
from uuid6 import uuid7

from delivery.adapters.suppliers.base import Balance, UpstreamProduct
from delivery.adapters.suppliers.factory import config_for, secret_context
from delivery.domain.suppliers import Claim, Route, Score, Supplier, SupplierError, rank
from delivery.service_layer import handlers
from delivery.service_layer.recharge import AdapterFactory, Breakers
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork


async def add_supplier(
    uow: DeliveryUnitOfWork,
    shop_id: UUID,
    keyring: KeyRing,
    outbound: OutboundPolicy,
    name: str,
    kind: Literal["http_json", "platform"],
    base_url: str,
    secret: str,
    config: dict[str, Any],
    timeout_seconds: float,
) -> Supplier:
    """Register an upstream of the shop (names are unique per shop); its secret is sealed at rest and never
    returned. Its URL must pass the outgoing-URL guard now (a clear 422) and passes it again on every
    connection."""
    await outbound.check(base_url, "base_url")
    try:
        config_for(kind, config)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        what = printable_message(first) or first["msg"]
        raise DomainError(f"invalid supplier config: {where}: {what}") from error
    sealed = keyring.seal(secret, secret_context(name))
    supplier = Supplier(
        uuid7(),
        shop_id,
        name,
        kind,
        base_url.rstrip("/"),
        config,
        sealed.key_id,
        sealed.blob,
        timeout_seconds,
    )
    if not await uow.suppliers.add(supplier):
        raise Conflict(f"the shop has a supplier named {name!r}")
    await uow.commit()
    return supplier


async def _supplier(uow: DeliveryUnitOfWork, shop_id: UUID, supplier_id: UUID) -> Supplier:
    """The shop's supplier; another shop's is not found."""
    supplier = await uow.suppliers.get(shop_id, supplier_id)
    if supplier is None:
        raise NotFound(f"no supplier {supplier_id}")
    return supplier


async def set_supplier_active(
    uow: DeliveryUnitOfWork, shop_id: UUID, supplier_id: UUID, active: bool
) -> None:
    if not await uow.suppliers.set_active(shop_id, supplier_id, active):
        raise NotFound(f"no supplier {supplier_id}")
    await uow.commit()


async def put_route(
    uow: DeliveryUnitOfWork,
    shop_id: UUID,
    product_id: UUID,
    supplier_id: UUID,
    supplier_sku: str,
    priority: int,
    cost: int,
    currency: str,
) -> Route:
    """Route a product to one of the shop's suppliers (priority 0 = primary; higher = backups), at its own
    cost."""
    supplier = await _supplier(uow, shop_id, supplier_id)
    route = Route(
        uuid7(), shop_id, product_id, supplier_id, supplier.name, supplier_sku, priority, cost, currency
    )
    await uow.suppliers.put_route(route)
    await uow.commit()
    return route


async def ranked_routes(
    uow: DeliveryUnitOfWork, shop_id: UUID, product_id: UUID, window: timedelta
) -> list[Route]:
    """The shop's routes of the product in the order the recharge worker tries them."""
    routes = await uow.suppliers.routes(shop_id, product_id)
    return rank(routes, await uow.attempts.scores(shop_id, handlers.now_utc() - window))


async def remove_route(uow: DeliveryUnitOfWork, shop_id: UUID, product_id: UUID, supplier_id: UUID) -> None:
    if not await uow.suppliers.remove_route(shop_id, product_id, supplier_id):
        raise NotFound(f"no route of product {product_id} to supplier {supplier_id}")
    await uow.commit()


async def record_claim(
    uow: DeliveryUnitOfWork,
    shop_id: UUID,
    supplier_id: UUID,
    order_id: UUID,
    amount: int,
    currency: str,
    reason: str,
    by: str,
) -> Claim:
    """A loss the shop's supplier caused on one of the shop's orders (e.g. a recharge that never arrived):
    it lowers the supplier's score."""
    await _supplier(uow, shop_id, supplier_id)
    if await uow.deliveries.get(shop_id, order_id) is None:
        raise NotFound(f"no delivery for order {order_id}")
    claim = Claim(uuid7(), shop_id, supplier_id, order_id, amount, currency, reason, by)
    await uow.suppliers.add_claim(claim)
    await uow.commit()
    return claim


@dataclass(frozen=True)
class SupplierScore:
    supplier: Supplier
    score: Score
    breaker: str


async def scores(
    uow: DeliveryUnitOfWork, shop_id: UUID, breakers: Breakers, window: timedelta
) -> list[SupplierScore]:
    """The shop's suppliers with their scores over the window and their breakers' states."""
    by_supplier = await uow.attempts.scores(shop_id, handlers.now_utc() - window)
    out = []
    for supplier in await uow.suppliers.all(shop_id):
        score = by_supplier.get(supplier.id, Score(supplier.id, 0, 0, None))
        out.append(SupplierScore(supplier, score, await breakers.state(supplier.id)))
    return out


async def _ask(uow: DeliveryUnitOfWork, adapters: AdapterFactory, shop_id: UUID, supplier_id: UUID) -> Any:
    return adapters(await _supplier(uow, shop_id, supplier_id))


async def balance(
    uow: DeliveryUnitOfWork, adapters: AdapterFactory, shop_id: UUID, supplier_id: UUID
) -> Balance:
    adapter = await _ask(uow, adapters, shop_id, supplier_id)
    try:
        result: Balance = await adapter.balance()
        return result
    except SupplierError as error:
        raise Unavailable(f"supplier answered no balance: {error.message}") from error
    finally:
        await adapter.aclose()


async def products(
    uow: DeliveryUnitOfWork, adapters: AdapterFactory, shop_id: UUID, supplier_id: UUID
) -> list[UpstreamProduct]:
    adapter = await _ask(uow, adapters, shop_id, supplier_id)
    try:
        result: list[UpstreamProduct] = await adapter.products()
        return result
    except SupplierError as error:
        raise Unavailable(f"supplier answered no product list: {error.message}") from error
    finally:
        await adapter.aclose()
