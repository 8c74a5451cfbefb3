"""A shop's payment channels: a provider the shop collects its buyers' money with, on its own credentials
(sealed at rest), instead of the platform's. Which one takes an order's money is recorded on the payment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from faka_common.contracts.order import Collector
from faka_common.errors import Conflict, DomainError

PLATFORM: Collector = "platform"
SHOP: Collector = "shop"


@dataclass(frozen=True)
class ShopChannel:
    """A shop's channel as stored: `shown` is what may be shown of its credentials (no secret), `key_id`
    and `sealed` the whole credentials sealed with the keyring."""

    shop_id: UUID
    provider: str
    enabled: bool
    shown: dict[str, Any]
    key_id: str
    sealed: bytes
    updated_at: datetime


class ProviderNotOffered(Conflict):
    """The platform does not offer this provider to shops (409): the sandbox where the sandbox is off."""

    code = "provider_not_offered"


class BadCredentials(DomainError):
    """Credentials the provider's adapter cannot use (e.g. a key that is not an RSA key): 422."""

    status_code = 422
    code = "bad_credentials"


def seal_context(shop_id: UUID, provider: str) -> bytes:
    """What a channel's sealed credentials are bound to: a blob copied to another shop's or provider's row
    does not open."""
    return f"payment-channel:{shop_id}:{provider}".encode()
