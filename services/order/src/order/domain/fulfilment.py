"""What a paid order asks of delivery beyond its keys: a supplier recharge or an operator's hand.

The product's delivery type is captured at placement, so a later catalog edit never changes how a paid
order is fulfilled."""

from __future__ import annotations

from collections.abc import Mapping

from faka_common.contracts.delivery import ManualDeliveryRequested, RechargeRequested
from faka_common.errors import DomainError

from order.domain.model import Order

RECHARGE = "recharge"
MANUAL = "manual"
MAX_FIELDS = 10
MAX_FIELD_NAME = 40
MAX_FIELD_VALUE = 200
#: Buyer fields that name the account to top up, in order of preference.
ACCOUNT_FIELDS = ("account", "recharge_account", "phone", "game_account", "uid")


class InvalidBuyerFields(DomainError):
    status_code = 422
    code = "invalid_buyer_fields"


def check_buyer_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """At most 10 fields; names 1..40 characters, values at most 200; surrounding blanks trimmed."""
    if len(fields) > MAX_FIELDS:
        raise InvalidBuyerFields(f"at most {MAX_FIELDS} buyer fields")
    clean: dict[str, str] = {}
    for name, value in fields.items():
        key = name.strip()
        if not key or len(key) > MAX_FIELD_NAME:
            raise InvalidBuyerFields(f"a buyer field name must be 1..{MAX_FIELD_NAME} characters")
        if not isinstance(value, str) or len(value) > MAX_FIELD_VALUE:
            raise InvalidBuyerFields(
                f"buyer field {key!r} must be text of at most {MAX_FIELD_VALUE} characters"
            )
        clean[key] = value.strip()
    return clean


def recharge_account(fields: Mapping[str, str]) -> str | None:
    for name in ACCOUNT_FIELDS:
        value = fields.get(name, "").strip()
        if value:
            return value
    return None


def check_recharge_fields(delivery_type: str, fields: Mapping[str, str]) -> None:
    """A recharge product cannot be fulfilled without the account to top up."""
    if delivery_type == RECHARGE and recharge_account(fields) is None:
        raise InvalidBuyerFields(
            "this product is a recharge: buyer_fields must name the account to top up "
            f"(one of {', '.join(ACCOUNT_FIELDS)})"
        )


def face_value(order: Order) -> int:
    """What the recharge is worth: the product's face value per unit when it has one, else the order's
    price before any coupon (a discount lowers what the buyer pays, never what they receive)."""
    if order.face_value is not None and order.face_value > 0:
        return order.face_value * order.quantity
    return order.unit_price * order.quantity


def fulfilment_request(order: Order) -> RechargeRequested | ManualDeliveryRequested | None:
    """The request a just-paid order sends to delivery; None for key products (inventory allocates).
    A recharge without an account (or worth nothing) goes to an operator rather than nowhere."""
    common = {
        "order_id": order.id,
        "shop_id": order.shop_id,
        "product_id": order.product_id,
        "order_no": order.order_no,
        "quantity": order.quantity,
        "buyer_fields": dict(order.buyer_fields),
    }
    if order.delivery_type == RECHARGE:
        account, amount = recharge_account(order.buyer_fields), face_value(order)
        if account is not None and amount > 0:
            return RechargeRequested(**common, account=account, amount=amount, currency=order.currency)
        return ManualDeliveryRequested(**common)
    if order.delivery_type == MANUAL:
        return ManualDeliveryRequested(**common)
    return None
