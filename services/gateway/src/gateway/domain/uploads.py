"""Request bodies the gateway reads whole (forms, payment notifications, Telegram updates) stay bounded; key
files are not read here at all: they stream through to the inventory."""

from __future__ import annotations

from faka_common.errors import DomainError


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"
