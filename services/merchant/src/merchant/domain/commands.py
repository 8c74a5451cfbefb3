"""What an operator asks of the merchant service."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from faka_common.contracts.shops import ShopStatus

from merchant.domain.shops import LANGUAGES


@dataclass(frozen=True)
class OpenShop:
    slug: str
    name: str
    status: ShopStatus = "pending"
    currency: str = "CNY"
    languages: tuple[str, ...] = LANGUAGES
    contact: str = ""
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeShop:
    """Settings to change; None keeps a setting as it is."""

    shop_id: UUID
    name: str | None = None
    contact: str | None = None
    currency: str | None = None
    languages: tuple[str, ...] | None = None
    domains: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ChangeShopStatus:
    shop_id: UUID
    status: ShopStatus
