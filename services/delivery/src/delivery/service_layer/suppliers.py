"""Supplier administration: register suppliers and routes, claims (by hand, and from every confirmed key
replacement), deposits, scores and the shop's thresholds, resume a paused supplier, ask upstreams."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from faka_common.contracts.aftersales import KeyReplaced
from faka_common.contracts.quality import SupplierDeposit, SupplierResumed
from faka_common.contracts.quality import SupplierPolicy as SupplierPolicyBody
from faka_common.crypto import KeyRing
from faka_common.errors import Conflict, DomainError, NotFound, Unavailable
from faka_common.fields import printable_message
from faka_common.outbound import OutboundPolicy
from pydantic import ValidationError
from uuid6 import uuid7

from delivery.adapters.supplier_accounts import ClaimTotals, LedgerEntry
from delivery.adapters.suppliers.base import Balance, UpstreamProduct
from delivery.adapters.suppliers.factory import config_for, secret_context
from delivery.domain.suppliers import Claim, Route, Score, Supplier, SupplierError, SupplierPolicy
from delivery.service_layer import handlers, routing, tickets
from delivery.service_layer.recharge import AdapterFactory, Breakers
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)

#: A replaced key's claim names no currency only when inventory's event predates the field.
DEFAULT_CURRENCY = "CNY"


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
    return await routing.routes_in_order(uow, shop_id, product_id, window, handlers.now_utc())


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
    it is deducted from what the shop holds for the supplier and counts against its standing."""
    supplier = await _supplier(uow, shop_id, supplier_id)
    if await uow.deliveries.get(shop_id, order_id) is None:
        raise NotFound(f"no delivery for order {order_id}")
    claim = Claim(uuid7(), shop_id, supplier_id, order_id, amount, currency, reason, by)
    await uow.suppliers.add_claim(claim)
    await routing.judge(uow, supplier, handlers.now_utc())
    await uow.commit()
    return claim


async def settle_replacement(event: KeyReplaced, uow: DeliveryUnitOfWork) -> None:
    """Inventory replaced a key: the ticket is done, and the voided key's supplier owes its cost."""
    await tickets.record_replacement(event, uow)
    await claim_replacement(event, uow)


async def claim_replacement(event: KeyReplaced, uow: DeliveryUnitOfWork) -> None:
    """A claim against the supplier of the voided key's batch for the key's cost, once per replacement (the
    claim's replacement id is unique, so a redelivered or re-emitted KeyReplaced claims nothing more), and
    the supplier's recent batches' delivered keys as the event counts them: its score's sales, so a
    card-key supplier is demoted, then paused (announced), on its claims per key sold. A batch without a
    supplier, or naming none of the shop's, claims nothing."""
    if event.supplier_id is None:
        return
    supplier = await uow.suppliers.get(event.shop_id, event.supplier_id)
    if supplier is None:
        log.warning(
            "key %s replaced: batch %s names supplier %s, not one of shop %s; no claim",
            event.voided_key_id, event.batch_id, event.supplier_id, event.shop_id,
        )  # fmt: skip
        return
    claim = Claim(
        uuid7(),
        event.shop_id,
        supplier.id,
        event.order_id,
        event.cost_price or 0,
        event.currency or DEFAULT_CURRENCY,
        f"key {event.voided_key_id} reported invalid and replaced",
        "system",
        replacement_claim_id=event.claim_id,
        batch_id=event.batch_id,
    )
    now = handlers.now_utc()
    await uow.accounts.record_key_sales(event.shop_id, supplier.id, event.supplier_batches, now)
    if await uow.suppliers.add_claim(claim):
        await routing.judge(uow, supplier, now)


async def resume_supplier(uow: DeliveryUnitOfWork, shop_id: UUID, supplier_id: UUID, by: str) -> Supplier:
    """An operator routes to the paused supplier again (announced, so its card keys sell again); its standing
    is judged afresh from now."""
    was_paused = await uow.accounts.resume(shop_id, supplier_id, handlers.now_utc())
    if was_paused is None:
        raise NotFound(f"no supplier {supplier_id}")
    if was_paused:
        uow.publish(SupplierResumed(supplier_id=supplier_id, shop_id=shop_id, resumed_by=by))
    await uow.commit()
    log.info("supplier %s of shop %s resumed by %s", supplier_id, shop_id, by)
    return await _supplier(uow, shop_id, supplier_id)


async def record_deposit(
    uow: DeliveryUnitOfWork, shop_id: UUID, supplier_id: UUID, deposit: SupplierDeposit
) -> LedgerEntry:
    """Money the shop holds for its supplier: an entry of the ledger claims are deducted from."""
    await _supplier(uow, shop_id, supplier_id)
    entry = LedgerEntry(
        uuid7(), shop_id, supplier_id, "deposit", deposit.amount, deposit.currency, deposit.note,
        deposit.recorded_by,
    )  # fmt: skip
    await uow.accounts.add_entry(entry)
    await uow.commit()
    return entry


@dataclass(frozen=True)
class SupplierAccount:
    supplier: Supplier
    balances: dict[str, int]
    claims: list[ClaimTotals]
    entries: list[LedgerEntry]


async def account(uow: DeliveryUnitOfWork, shop_id: UUID, supplier_id: UUID, limit: int) -> SupplierAccount:
    """The shop's supplier with its balance per currency, its claims per import batch and its latest
    ledger entries."""
    supplier = await _supplier(uow, shop_id, supplier_id)
    return SupplierAccount(
        supplier,
        await uow.accounts.balances(shop_id, supplier_id),
        await uow.accounts.claim_totals(shop_id, supplier_id),
        await uow.accounts.entries(shop_id, supplier_id, limit),
    )


async def put_policy(uow: DeliveryUnitOfWork, shop_id: UUID, body: SupplierPolicyBody) -> SupplierPolicy:
    policy = SupplierPolicy(
        timedelta(minutes=body.window_minutes),
        body.min_sample,
        body.demote_claim_rate,
        body.pause_claim_rate,
    )
    await uow.accounts.put_policy(shop_id, policy)
    await uow.commit()
    return policy


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
