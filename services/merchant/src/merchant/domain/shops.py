"""The shop aggregate: a tenant of the platform, its slug, custom domains, settings and lifecycle."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args
from uuid import UUID

from faka_common.contracts.shops import ShopChanged, ShopStatus
from faka_common.errors import Conflict, DomainError

STATUSES: tuple[ShopStatus, ...] = get_args(ShopStatus)

#: The statuses a shop may move to from each status. A new shop waits as pending until the platform opens
#: it; a suspension (a dispute, an unpaid fee) is lifted by activating the shop again; closing is final:
#: a closed shop keeps its slug and domains, so an old link never leads to another seller's shop.
NEXT_STATUSES: dict[ShopStatus, frozenset[ShopStatus]] = {
    "pending": frozenset({"active", "closed"}),
    "active": frozenset({"suspended", "closed"}),
    "suspended": frozenset({"active", "closed"}),
    "closed": frozenset(),
}
#: What a shop may be created as: an operator can open a shop at once instead of in a second step.
OpeningStatus = Literal["pending", "active"]
OPENING_STATUSES: frozenset[ShopStatus] = frozenset(get_args(OpeningStatus))

MIN_SLUG, MAX_SLUG = 3, 40
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
#: Words the platform's own addresses use or may use (`/api`, `/s/<slug>`, `www.`, `admin.`): no shop takes
#: them, so a shop's address can never shadow the platform's.
RESERVED_SLUGS = frozenset(
    {
        "about", "account", "accounts", "admin", "agent", "agents", "api", "app", "assets", "auth",
        "billing", "cdn", "checkout", "console", "dashboard", "docs", "health", "help", "internal",
        "login", "logout", "mail", "media", "merchant", "merchants", "metrics", "oauth", "openapi",
        "order", "orders", "pay", "payment", "payments", "platform", "redoc", "register", "root", "s",
        "sandbox", "settings", "shop", "shops", "signin", "signup", "sso", "static", "status", "store",
        "support", "system", "telegram", "webhook", "webhooks", "www",
    }
)  # fmt: skip

MAX_HOST = 253
HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_DOMAINS = 20

CURRENCY = re.compile(r"[A-Z]{3}")
#: The languages the platform's storefront and notification templates are written in.
Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
MAX_NAME = 100
#: A fee rate is in basis points: 10,000 is all of a sale.
MAX_FEE_RATE_BPS = 10_000
MAX_CONTACT = 200


class InvalidSlug(DomainError):
    status_code = 422
    code = "invalid_slug"


class InvalidHost(DomainError):
    status_code = 422
    code = "invalid_host"


class InvalidShopSettings(DomainError):
    status_code = 422
    code = "invalid_shop"


class StatusChangeRefused(Conflict):
    code = "status_change_refused"

    def __init__(self, shop: Shop, status: ShopStatus) -> None:
        allowed = NEXT_STATUSES[shop.status]
        then = f"it can become {' or '.join(sorted(allowed))}" if allowed else "closing a shop is final"
        super().__init__(f"shop {shop.slug!r} is {shop.status} and cannot become {status}: {then}")


class ShopClosed(Conflict):
    code = "shop_closed"


class SlugTaken(Conflict):
    code = "slug_taken"


class DomainTaken(Conflict):
    code = "domain_taken"


def _shown(value: str) -> str:
    return repr(value[:60] + ("…" if len(value) > 60 else ""))


def check_slug(slug: str) -> str:
    """`slug` when it can name a shop: 3..40 lower-case letters, digits and hyphens, no hyphen at either
    end, not a reserved word; InvalidSlug saying which rule it breaks otherwise."""
    if not MIN_SLUG <= len(slug) <= MAX_SLUG:
        raise InvalidSlug(f"slug {_shown(slug)} must be {MIN_SLUG} to {MAX_SLUG} characters long")
    if not SLUG.fullmatch(slug):
        raise InvalidSlug(
            f"slug {_shown(slug)} may hold only lower-case letters a-z, digits and hyphens, "
            "and may not start or end with a hyphen"
        )
    if slug in RESERVED_SLUGS:
        raise InvalidSlug(f"slug {slug!r} is reserved for the platform's own addresses")
    return slug


def normalize_host(host: str) -> str:
    """`host` as a shop's domain is stored: a DNS name (at least two labels, a top-level label with a
    letter), lower-cased, without the trailing dot; InvalidHost for anything else (a scheme, a port, a
    path, an IP address, a non-ASCII name)."""
    value = host.strip()
    if "://" in value or "/" in value:
        raise InvalidHost(f"{_shown(host)}: give the host name only, without a scheme (https://) or a path")
    if ":" in value:
        raise InvalidHost(f"{_shown(host)}: give the host name only, without a port")
    if not value.isascii():
        raise InvalidHost(f"{_shown(host)}: give an internationalised domain name in its ASCII (xn--) form")
    value = value.lower().removesuffix(".")
    if not value or len(value) > MAX_HOST:
        raise InvalidHost(f"{_shown(host)}: a domain name is 1 to {MAX_HOST} characters long")
    labels = value.split(".")
    if len(labels) < 2:
        raise InvalidHost(f"{_shown(host)}: a shop's domain has at least two labels, like shop.example.com")
    if not all(HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidHost(
            f"{_shown(host)}: each dot-separated label is 1 to 63 letters a-z, digits and hyphens, "
            "not starting or ending with a hyphen"
        )
    if not re.search(r"[a-z]", labels[-1]):
        raise InvalidHost(f"{_shown(host)}: an IP address is not a domain name")
    return value


def normalize_domains(hosts: Iterable[str]) -> tuple[str, ...]:
    """The distinct normalised hosts, sorted; at most MAX_DOMAINS."""
    domains = tuple(sorted({normalize_host(host) for host in hosts}))
    if len(domains) > MAX_DOMAINS:
        raise InvalidHost(f"a shop has at most {MAX_DOMAINS} domains, not {len(domains)}")
    return domains


def check_name(name: str) -> str:
    value = name.strip()
    if not value or len(value) > MAX_NAME:
        raise InvalidShopSettings(f"a shop's name is 1 to {MAX_NAME} characters long (blanks trimmed)")
    return value


def check_contact(contact: str) -> str:
    value = contact.strip()
    if len(value) > MAX_CONTACT:
        raise InvalidShopSettings(f"a shop's contact is at most {MAX_CONTACT} characters long")
    return value


def check_currency(currency: str) -> str:
    if not CURRENCY.fullmatch(currency):
        raise InvalidShopSettings(f"currency {_shown(currency)} is not an ISO 4217 code like CNY or USD")
    return currency


def check_languages(languages: Iterable[str]) -> tuple[str, ...]:
    """The shop's storefront languages, the first its default: known languages, each once, at least one."""
    chosen = tuple(languages)
    unknown = [language for language in chosen if language not in LANGUAGES]
    if unknown:
        raise InvalidShopSettings(
            f"unknown language {_shown(unknown[0])}; the platform speaks {', '.join(LANGUAGES)}"
        )
    if not chosen or len(set(chosen)) != len(chosen):
        raise InvalidShopSettings("a shop's languages name each language once, at least one")
    return chosen


@dataclass(frozen=True)
class Shop:
    id: UUID
    slug: str
    name: str
    status: ShopStatus
    currency: str
    languages: tuple[str, ...]
    contact: str
    domains: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    #: The platform's fee on the shop's sales in basis points; None: the platform's default rate.
    fee_rate_bps: int | None = None

    @classmethod
    def open(
        cls,
        *,
        id: UUID,
        slug: str,
        name: str,
        now: datetime,
        status: ShopStatus = "pending",
        currency: str = "CNY",
        languages: Iterable[str] = LANGUAGES,
        contact: str = "",
        domains: Iterable[str] = (),
    ) -> Shop:
        """A new shop, every field checked."""
        if status not in OPENING_STATUSES:
            raise InvalidShopSettings(
                f"a new shop is {' or '.join(get_args(OpeningStatus))}, not {_shown(status)}"
            )
        return cls(
            id=id,
            slug=check_slug(slug),
            name=check_name(name),
            status=status,
            currency=check_currency(currency),
            languages=check_languages(languages),
            contact=check_contact(contact),
            domains=normalize_domains(domains),
            created_at=now,
            updated_at=now,
        )

    def with_settings(
        self,
        *,
        now: datetime,
        name: str | None = None,
        contact: str | None = None,
        currency: str | None = None,
        languages: Iterable[str] | None = None,
        domains: Iterable[str] | None = None,
    ) -> Shop:
        """The shop with the given settings changed (None: kept); itself when nothing differs. A closed
        shop changes no more."""
        changed = replace(
            self,
            name=self.name if name is None else check_name(name),
            contact=self.contact if contact is None else check_contact(contact),
            currency=self.currency if currency is None else check_currency(currency),
            languages=self.languages if languages is None else check_languages(languages),
            domains=self.domains if domains is None else normalize_domains(domains),
        )
        if changed == self:
            return self
        if self.status == "closed":
            raise ShopClosed(f"shop {self.slug!r} is closed; a closed shop's settings no longer change")
        return replace(changed, updated_at=now)

    def with_fee_rate(self, fee_rate_bps: int | None, *, now: datetime) -> Shop:
        """The shop with the platform's fee at `fee_rate_bps` (None: the default); itself when unchanged."""
        if fee_rate_bps == self.fee_rate_bps:
            return self
        if fee_rate_bps is not None and not 0 <= fee_rate_bps <= MAX_FEE_RATE_BPS:
            raise InvalidShopSettings(
                f"fee_rate_bps is 0 to {MAX_FEE_RATE_BPS} basis points, not {fee_rate_bps}"
            )
        return replace(self, fee_rate_bps=fee_rate_bps, updated_at=now)

    def with_status(self, status: ShopStatus, *, now: datetime) -> Shop:
        """The shop in `status`; itself when it is in it already; StatusChangeRefused when NEXT_STATUSES
        has no such step."""
        if status == self.status:
            return self
        if status not in NEXT_STATUSES[self.status]:
            raise StatusChangeRefused(self, status)
        return replace(self, status=status, updated_at=now)

    def changed(self) -> ShopChanged:
        """The event that tells every service the whole shop as it is now."""
        return ShopChanged(
            shop_id=self.id,
            slug=self.slug,
            name=self.name,
            status=self.status,
            currency=self.currency,
            languages=list(self.languages),
            domains=list(self.domains),
            contact=self.contact,
        )
