"""Payment notifications: parsing and verifying what a provider sends, before anything is touched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faka_common import sandbox_payment
from faka_common.errors import DomainError

SANDBOX = "sandbox"
MAX_CLOCK_SKEW_SECONDS = 300
SUCCESS = "SUCCESS"


class BadNotification(DomainError):
    """A notification that is malformed, forged, stale or does not match its order (400)."""


@dataclass(frozen=True)
class PaymentNotice:
    """A verified statement from a provider that `amount` `currency` was paid for `order_no`."""

    provider: str
    order_no: str
    trade_no: str
    amount: int
    currency: str


def _as_int(params: dict[str, Any], name: str) -> int:
    value = params[name]
    if isinstance(value, bool):
        raise BadNotification(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise BadNotification(f"{name} must be an integer")


def verify_sandbox(body: bytes, secret: str, now: datetime | None = None) -> PaymentNotice:
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
    timestamp = _as_int(params, "timestamp")
    moment = (now or datetime.now(UTC)).timestamp()
    if abs(moment - timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise BadNotification(f"stale notification: timestamp is more than {MAX_CLOCK_SKEW_SECONDS} s off")
    if params["status"] != SUCCESS:
        raise BadNotification(f"payment status is {str(params['status'])[:40]!r}, not {SUCCESS}")
    amount = _as_int(params, "amount")
    order_no, trade_no, currency = (str(params[n]) for n in ("order_no", "trade_no", "currency"))
    if not trade_no or len(trade_no) > 128:
        raise BadNotification("trade_no must be 1..128 characters")
    return PaymentNotice(SANDBOX, order_no, trade_no, amount, currency)


def check_matches(notice: PaymentNotice, amount: int, currency: str) -> None:
    """The paid amount and currency must be exactly the order's."""
    if notice.currency != currency:
        raise BadNotification(f"currency mismatch: paid {notice.currency[:8]}, order is in {currency}")
    if notice.amount != amount:
        raise BadNotification(f"amount mismatch: paid {notice.amount}, order amount is {amount}")
