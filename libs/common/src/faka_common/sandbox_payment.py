"""The built-in sandbox payment provider's notification protocol (for the demo and tests).

A notification is a JSON object with order_no, trade_no, amount (minor units), currency, status,
timestamp (unix seconds), optionally payer (the paying account) and signature = hex HMAC-SHA256(secret,
canonical string), where the canonical string joins the other fields sorted by name as `name=value` with
`&`."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

SIGNED_FIELDS = ("amount", "currency", "order_no", "status", "timestamp", "trade_no")
DEV_SANDBOX_SECRET = "dev-sandbox-secret-change-me"


#: Signed too when present: the payer's account at the sandbox (what a real provider's notification names).
OPTIONAL_SIGNED = ("payer",)


def canonical(params: dict[str, Any]) -> bytes:
    names = sorted((*SIGNED_FIELDS, *(n for n in OPTIONAL_SIGNED if n in params)))
    return "&".join(f"{name}={params[name]}" for name in names).encode()


def sign(params: dict[str, Any], secret: str) -> str:
    return hmac.new(secret.encode(), canonical(params), hashlib.sha256).hexdigest()


def signed_notification(
    order_no: str,
    trade_no: str,
    amount: int,
    currency: str,
    secret: str,
    status: str = "SUCCESS",
    timestamp: int | None = None,
    payer: str | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "order_no": order_no,
        "trade_no": trade_no,
        "amount": amount,
        "currency": currency,
        "status": status,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
    }
    if payer is not None:
        params["payer"] = payer
    return {**params, "signature": sign(params, secret)}


def signature_valid(params: dict[str, Any], secret: str) -> bool:
    """Constant-time check of the signature over the signed fields."""
    if any(name not in params for name in (*SIGNED_FIELDS, "signature")):
        return False
    return hmac.compare_digest(str(params["signature"]).encode(), sign(params, secret).encode())
