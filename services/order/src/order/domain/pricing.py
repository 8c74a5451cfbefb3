"""Pricing: wholesale tiers, coupons and purchase limits. Money is integer minor units; no I/O here."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from faka_common.errors import Conflict, DomainError

from order.domain.model import UNPAID_ENDS, Status

CouponKind = Literal["fixed", "percent"]
MAX_TIERS = 20
MAX_CODE = 40


@dataclass(frozen=True)
class PriceTier:
    """From `min_quantity` units on, each unit costs `unit_price`."""

    min_quantity: int
    unit_price: int


class InvalidTiers(DomainError):
    status_code = 422
    code = "invalid_price_tiers"


def check_tiers(tiers: Sequence[PriceTier]) -> list[PriceTier]:
    """Tiers sorted by quantity; distinct quantities >= 2, prices >= 0 that never rise with quantity."""
    if len(tiers) > MAX_TIERS:
        raise InvalidTiers(f"at most {MAX_TIERS} price tiers per product")
    ordered = sorted(tiers, key=lambda t: t.min_quantity)
    for tier in ordered:
        if tier.min_quantity < 2:
            raise InvalidTiers("a tier's min_quantity must be at least 2 (one unit costs the product price)")
        if tier.unit_price < 0:
            raise InvalidTiers("a tier's unit_price must not be negative")
    for lower, higher in itertools.pairwise(ordered):
        if lower.min_quantity == higher.min_quantity:
            raise InvalidTiers(f"two tiers start at min_quantity {lower.min_quantity}")
        if higher.unit_price > lower.unit_price:
            raise InvalidTiers(
                f"the tier from {higher.min_quantity} units costs more per unit than the one from "
                f"{lower.min_quantity}"
            )
    return ordered


def unit_price_for(base_price: int, tiers: Sequence[PriceTier], quantity: int) -> int:
    """The unit price of the highest tier `quantity` reaches, else the product price."""
    reached = [t for t in tiers if t.min_quantity <= quantity]
    if not reached:
        return base_price
    return max(reached, key=lambda t: t.min_quantity).unit_price


def percent_of(amount: int, percent: int) -> int:
    """`percent`% of `amount`, rounded half up to the minor unit (integers only, no float)."""
    return (amount * percent + 50) // 100


def normalize_code(code: str) -> str:
    return code.strip().upper()


class CouponRejected(DomainError):
    """A coupon that cannot be used on this order; `code` names why. A 409: the request is well formed,
    the coupon's state (disabled, expired, used up, for other products) forbids it."""

    status_code = 409
    code = "coupon_rejected"

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Coupon:
    #: Codes are unique per shop: two shops may each have their own SPRING10.
    shop_id: UUID
    code: str
    kind: CouponKind
    value: int
    currency: str | None
    product_id: UUID | None
    category_id: UUID | None
    usage_limit: int | None
    per_buyer_limit: int | None
    expires_at: datetime | None
    active: bool
    used_count: int
    created_at: datetime

    @classmethod
    def new(
        cls,
        *,
        shop_id: UUID,
        code: str,
        kind: CouponKind,
        value: int,
        currency: str | None,
        product_id: UUID | None,
        category_id: UUID | None,
        usage_limit: int | None,
        per_buyer_limit: int | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> Coupon:
        code = normalize_code(code)
        if not code or len(code) > MAX_CODE:
            raise DomainError(f"a coupon code must be 1..{MAX_CODE} characters")
        if kind == "percent" and not 1 <= value <= 100:
            raise DomainError("a percent coupon's value must be 1..100")
        if kind == "fixed" and (value < 1 or not currency):
            raise DomainError("a fixed coupon needs a positive value (minor units) and its currency")
        if product_id is not None and category_id is not None:
            raise DomainError("a coupon applies to one product or one category, not both")
        if usage_limit is not None and usage_limit < 1:
            raise DomainError("usage_limit must be at least 1")
        if per_buyer_limit is not None and per_buyer_limit < 1:
            raise DomainError("per_buyer_limit must be at least 1")
        if expires_at is not None and expires_at <= now:
            raise DomainError("expires_at must be in the future")
        return cls(
            shop_id=shop_id,
            code=code,
            kind=kind,
            value=value,
            currency=currency.upper() if kind == "fixed" and currency else None,
            product_id=product_id,
            category_id=category_id,
            usage_limit=usage_limit,
            per_buyer_limit=per_buyer_limit,
            expires_at=expires_at,
            active=True,
            used_count=0,
            created_at=now,
        )

    def check(self, product_id: UUID, category_id: UUID | None, currency: str, now: datetime) -> None:
        """Raise CouponRejected naming why this coupon cannot be used on such an order now."""
        if not self.active:
            raise CouponRejected(f"coupon {self.code} is disabled", "coupon_disabled")
        if self.expires_at is not None and self.expires_at <= now:
            raise CouponRejected(
                f"coupon {self.code} expired at {self.expires_at.isoformat()}", "coupon_expired"
            )
        if self.usage_limit is not None and self.used_count >= self.usage_limit:
            raise CouponRejected(f"coupon {self.code} is used up", "coupon_used_up")
        if self.product_id is not None and self.product_id != product_id:
            raise CouponRejected(f"coupon {self.code} is not for this product", "coupon_not_applicable")
        if self.category_id is not None and self.category_id != category_id:
            raise CouponRejected(
                f"coupon {self.code} is not for this product's category", "coupon_not_applicable"
            )
        if self.kind == "fixed" and (self.currency or "") != currency.upper():
            raise CouponRejected(
                f"coupon {self.code} is in {self.currency}, the order in {currency}", "coupon_not_applicable"
            )

    def discount(self, subtotal: int) -> int:
        """What the coupon takes off `subtotal`; never more than the subtotal."""
        off = self.value if self.kind == "fixed" else percent_of(subtotal, self.value)
        return max(0, min(off, subtotal))


def coupon_use_change(before: Status, after: Status) -> int:
    """What a transition does to the use an order's coupon counts: -1 when the order ends unpaid (the use is
    given back), +1 when a late payment completes an order that had ended unpaid (the paid order keeps its
    use), 0 otherwise (a paid order keeps its use; refunds give nothing back)."""
    if before not in UNPAID_ENDS and after in UNPAID_ENDS:
        return -1
    if before in UNPAID_ENDS and after not in UNPAID_ENDS:
        return 1
    return 0


def coupon_unknown(code: str) -> CouponRejected:
    return CouponRejected(f"no coupon {normalize_code(code)[:MAX_CODE]!r}", "coupon_unknown")


def coupon_used_up(code: str) -> CouponRejected:
    return CouponRejected(f"coupon {code} is used up", "coupon_used_up")


def coupon_buyer_limit(code: str, limit: int) -> CouponRejected:
    return CouponRejected(
        f"coupon {code} can be used {limit} time(s) per buyer and you have used it up", "coupon_buyer_limit"
    )


class PurchaseLimitExceeded(Conflict):
    code = "purchase_limit_exceeded"


def check_purchase_limits(
    quantity: int, max_per_order: int | None, max_per_buyer: int | None, already_bought: int
) -> None:
    """Per order and per buyer (units in the buyer's orders that did not end unpaid)."""
    if max_per_order is not None and quantity > max_per_order:
        raise PurchaseLimitExceeded(f"at most {max_per_order} unit(s) of this product per order")
    if max_per_buyer is not None and already_bought + quantity > max_per_buyer:
        left = max(0, max_per_buyer - already_bought)
        raise PurchaseLimitExceeded(
            f"at most {max_per_buyer} unit(s) of this product per buyer; {left} left for you"
        )


@dataclass(frozen=True)
class Price:
    unit_price: int
    subtotal: int
    discount: int
    amount: int


def price(unit_price: int, quantity: int, coupon: Coupon | None) -> Price:
    subtotal = unit_price * quantity
    discount = coupon.discount(subtotal) if coupon else 0
    return Price(unit_price, subtotal, discount, subtotal - discount)
