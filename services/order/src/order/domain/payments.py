"""Payment notifications: parsing and verifying what a provider sends, before anything is touched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from faka_common import sandbox_payment
from faka_common.contracts.risk_rules import payment_account
from faka_common.errors import DomainError

from order.domain.payment_channels import PLATFORM, Collector

SANDBOX = "sandbox"
#: The payment record of an order with nothing to pay; no provider is asked, nothing can be refunded.
FREE = "free"
MAX_CLOCK_SKEW_SECONDS = 300
SUCCESS = "SUCCESS"
MAX_TRADE_NO = 128


class BadNotification(DomainError):
    """A notification that is malformed, forged, stale or does not match its order (400).

    `transient` marks a failure that may pass later (e.g. a platform certificate we do not know yet);
    the reconciler then asks the provider about `order_no` directly."""

    code = "bad_notification"

    def __init__(self, message: str, *, transient: bool = False, order_no: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.order_no = order_no


@dataclass(frozen=True)
class VerifiedPayment:
    """A verified statement from a provider that `amount` `currency` was paid for `order_no`, to the account
    of `collected_by` (the platform's, or the shop's own channel's: whose credentials verified it)."""

    provider: str
    order_no: str
    trade_no: str
    amount: int
    currency: str
    collected_by: Collector = PLATFORM
    #: Who paid, `<provider>:<account>`, when the verified notification names the payer
    #: (`faka_common.contracts.risk_rules.payment_account`).
    payer_account: str | None = None


PaymentNotice = VerifiedPayment


def free_payment(order_no: str, currency: str) -> VerifiedPayment:
    """The payment record of a zero-amount order: one per order (the trade number is the order's)."""
    return VerifiedPayment(FREE, order_no, f"FREE-{order_no}", 0, currency)


def as_int(params: dict[str, Any], name: str) -> int:
    value = params[name]
    if isinstance(value, bool):
        raise BadNotification(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise BadNotification(f"{name} must be an integer")


_as_int = as_int


def minor_units(value: object, name: str, exponent: int = 2) -> int:
    """A decimal major-unit amount ('25.00', 25, 25.5) as integer minor units; refuses sub-minor digits."""
    if isinstance(value, bool) or value is None:
        raise BadNotification(f"{name} must be a decimal amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise BadNotification(f"{name} must be a decimal amount") from error
    if not number.is_finite() or number < 0:
        raise BadNotification(f"{name} must be a non-negative decimal amount")
    scaled = number.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise BadNotification(f"{name} has more than {exponent} decimal places")
    return int(scaled)


def major_units(amount: int, exponent: int = 2) -> str:
    """Integer minor units as the decimal string providers expect: 2500 -> '25.00'."""
    if exponent == 0:
        return str(amount)
    unit = 10**exponent
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // unit}.{abs(amount) % unit:0{exponent}d}"


def check_fresh(timestamp: float, now: datetime, window: int = MAX_CLOCK_SKEW_SECONDS) -> None:
    if abs(now.timestamp() - timestamp) > window:
        raise BadNotification(f"stale notification: timestamp is more than {window} s off")


def check_trade_no(trade_no: str) -> str:
    if not trade_no or len(trade_no) > MAX_TRADE_NO:
        raise BadNotification(f"trade_no must be 1..{MAX_TRADE_NO} characters")
    return trade_no


def verify_sandbox(body: bytes, secret: str, now: datetime | None = None) -> VerifiedPayment:
    """Parse and verify a sandbox notification: signature (constant time), freshness, success status."""
    try:
        params = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadNotification(f"malformed notification: body is not valid JSON ({error})") from error
    if not isinstance(params, dict):
        raise BadNotification("malformed notification: expected a JSON object")
    missing = [name for name in (*sandbox_payment.SIGNED_FIELDS, "signature") if name not in params]
    if missing:
        raise BadNotification(f"malformed notification: missing {', '.join(missing)}")
    if not sandbox_payment.signature_valid(params, secret):
        raise BadNotification("bad signature")
    check_fresh(as_int(params, "timestamp"), now or datetime.now(UTC))
    if params["status"] != SUCCESS:
        raise BadNotification(f"payment status is {str(params['status'])[:40]!r}, not {SUCCESS}")
    amount = as_int(params, "amount")
    order_no, trade_no, currency = (str(params[n]) for n in ("order_no", "trade_no", "currency"))
    payer = payment_account(SANDBOX, params.get("payer"))
    return VerifiedPayment(SANDBOX, order_no, check_trade_no(trade_no), amount, currency, payer_account=payer)


def check_matches(notice: VerifiedPayment, amount: int, currency: str) -> None:
    """The paid amount and currency must be exactly the order's."""
    if notice.currency.upper() != currency.upper():
        raise BadNotification(f"currency mismatch: paid {notice.currency[:8]}, order is in {currency}")
    if notice.amount != amount:
        raise BadNotification(f"amount mismatch: paid {notice.amount}, order amount is {amount}")
