"""After-sales replacement of a delivered key (delivery asks, inventory decides and does it atomically)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from faka_common.contracts.aftersales import (
    KeyReplaced,
    KeyReplacementRefused,
    KeyReplacementRequested,
    RefusalReason,
    SupplierBatchSales,
)
from faka_common.crypto import KeyRing
from faka_common.errors import NotFound

from inventory.adapters.replacements import Replacement
from inventory.domain import stock
from inventory.domain.replacements import ReplacementPolicy
from inventory.domain.reservations import ReservationStatus
from inventory.service_layer import quality
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)

#: The longest window a shop may judge its suppliers over (SupplierPolicy's window_minutes at most).
SUPPLIER_WINDOW = timedelta(days=90)


async def replace_delivered_key(cmd: KeyReplacementRequested, uow: InventoryUnitOfWork) -> None:
    """Void the order's reported key (counted against its batch) and sell the order a different key of the
    same pool, in one transaction; or refuse with the reason when the product's policy, the order's earlier
    replacements or an empty pool say no. The order's handlers run one at a time (its lock), and the key's
    replacement row is unique, so one key is replaced once however many claims race."""
    await uow.reservations.lock_order(cmd.order_id)
    product = await uow.products.get(cmd.product_id)
    if product is None or product.shop_id != cmd.shop_id or product.delivery_type != "card_key":
        return _refuse(uow, cmd, "not_replaceable", "not a card-key product of the order's shop")
    if await uow.replacements.replaced(cmd.key_id):
        return _refuse(uow, cmd, "already_replaced", "this key was replaced before")
    bad = await uow.replacements.delivered_key(cmd.order_id, cmd.key_id)
    if bad is None or bad.product_id != product.id:
        return _refuse(uow, cmd, "not_this_orders_key", "the key is not one the order holds")
    earlier = await uow.replacements.of_order(cmd.order_id)
    refusal = ReplacementPolicy.of(product).refusal(
        cmd.delivered_at, datetime.now(UTC), earlier, cmd.evidence
    )
    if refusal is not None:
        await quality.count_case(uow, product, datetime.now(UTC))
        return _refuse(uow, cmd, *refusal)
    claimed = await uow.keys.claim(product.id, 1, product.issue_order)
    if not claimed:
        await quality.count_case(uow, product, datetime.now(UTC))
        return _refuse(uow, cmd, "out_of_stock", "no key left in the product's pool")
    (new_key,) = claimed
    added = await uow.replacements.add(
        Replacement(cmd.claim_id, cmd.order_id, cmd.shop_id, product.id, bad.id, new_key, bad.batch_id)
    )
    if not added:
        return _refuse(uow, cmd, "already_replaced", "this key or claim was replaced before")
    await uow.keys.take([new_key], cmd.order_id, "sold")
    await uow.replacements.void_sold(bad.id)
    cost, supplier_id = await uow.replacements.count_against_batch(bad.batch_id)
    await uow.stock.record(product.shop_id, product.id, stock.withdrawn(1))
    sales = await _supplier_sales(uow, cmd.shop_id, supplier_id)
    uow.publish(
        KeyReplaced(
            order_id=cmd.order_id,
            shop_id=cmd.shop_id,
            product_id=product.id,
            claim_id=cmd.claim_id,
            ticket_id=cmd.ticket_id,
            voided_key_id=bad.id,
            key_id=new_key,
            batch_id=bad.batch_id,
            cost_price=cost,
            supplier_id=supplier_id,
            currency=product.currency,
            supplier_batches=sales,
        )
    )
    await quality.count_case(uow, product, datetime.now(UTC))
    log.info("order %s: key %s replaced by %s (claim %s)", cmd.order_id, bad.id, new_key, cmd.claim_id)


async def _supplier_sales(
    uow: InventoryUnitOfWork, shop_id: UUID, supplier_id: UUID | None
) -> list[SupplierBatchSales]:
    """The supplier's recent batches with their keys delivered (this replacement counted), so delivery
    judges the supplier's claim rate on the keys it sold as it judges a recharge supplier's on its top-ups."""
    if supplier_id is None:
        return []
    since = datetime.now(UTC) - SUPPLIER_WINDOW
    batches = await uow.quality.batches_of_supplier(shop_id, supplier_id, since)
    return [
        SupplierBatchSales(batch_id=b.batch_id, imported_at=b.created_at, delivered=b.delivered)
        for b in batches
    ]


def _refuse(
    uow: InventoryUnitOfWork, cmd: KeyReplacementRequested, reason: RefusalReason, detail: str
) -> None:
    uow.publish(
        KeyReplacementRefused(
            order_id=cmd.order_id,
            shop_id=cmd.shop_id,
            product_id=cmd.product_id,
            claim_id=cmd.claim_id,
            ticket_id=cmd.ticket_id,
            key_id=cmd.key_id,
            reason=reason,
            detail=detail,
        )
    )
    log.info("order %s: key %s not replaced: %s (%s)", cmd.order_id, cmd.key_id, reason, detail)


async def identify_key(
    shop_id: UUID, order_id: UUID, content: str, uow: InventoryUnitOfWork, keyring: KeyRing
) -> UUID:
    """The id of the shop's order's key whose text the buyer names (as it was shown to them): one the order
    holds, or one it held until it was replaced (a second report of it is then told apart). Found by the
    key's fingerprint, so no key is opened; nothing is revealed."""
    reservation = await uow.reservations.get(order_id)
    allocated = reservation is not None and reservation.status is ReservationStatus.ALLOCATED
    if reservation is None or reservation.shop_id != shop_id or not allocated:
        raise NotFound(f"order {order_id} holds no such key")
    fingerprint = keyring.fingerprint(content.strip(), reservation.product_id.bytes)
    key_id = await uow.replacements.key_of_order(order_id, reservation.product_id, fingerprint)
    if key_id is None:
        raise NotFound(f"order {order_id} holds no such key")
    return key_id
