"""Merchant internal HTTP API: shops (docs/internal-api.md, merchant section), and the app with people's
routes (entrypoints.accounts, entrypoints.memberships, entrypoints.api_tokens) and the audit log
(entrypoints.audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self
from uuid import UUID

from faka_common.contracts.shops import ShopStatus
from faka_common.db.resealing import resealing_router
from faka_common.errors import DomainError
from faka_common.fields import Line, NonBlankLine
from faka_common.http import create_app, internal_router
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from merchant.adapters.accounts import SEALED
from merchant.bootstrap import Service
from merchant.domain import commands
from merchant.domain.shops import (
    LANGUAGES,
    MAX_CONTACT,
    MAX_DOMAINS,
    MAX_FEE_RATE_BPS,
    MAX_HOST,
    MAX_NAME,
    MAX_SLUG,
    Language,
    OpeningStatus,
    Shop,
)
from merchant.entrypoints import accounts, api_tokens, audit, memberships
from merchant.entrypoints.deps import ServiceDep
from merchant.service_layer import shops

#: The services that may call these routes.
CALLERS = frozenset({"gateway"})
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
MAX_FEE_RATES = 200

# Bounds on what is read; the shape rules (and their messages) are the domain's.
Slug = Annotated[
    str,
    StringConstraints(max_length=100),
    Field(
        description=f"3..{MAX_SLUG} lower-case letters a-z, digits and hyphens, no hyphen at either end, "
        "not a reserved word (api, admin, s, static, www, ...); the storefront is /s/<slug>/",
        examples=["game-cards"],
    ),
]
Host = Annotated[
    str,
    StringConstraints(max_length=MAX_HOST + 1),
    Field(
        description="A DNS name, without scheme, port or path; stored lower-case",
        examples=["cards.example.com"],
    ),
]
Domains = Annotated[
    list[Host], Field(max_length=MAX_DOMAINS, description=f"Custom domains; at most {MAX_DOMAINS}")
]
Name = Annotated[NonBlankLine, StringConstraints(max_length=MAX_NAME), Field(examples=["Game cards"])]
Contact = Annotated[
    Line,
    StringConstraints(max_length=MAX_CONTACT),
    Field(description="How buyers reach the seller (email, Telegram, ...)", examples=["tg: @gamecards"]),
]
Currency = Annotated[str, StringConstraints(max_length=3), Field(description="ISO 4217", examples=["CNY"])]
Languages = Annotated[
    list[Language],
    Field(min_length=1, max_length=len(LANGUAGES), description="Storefront languages, the first the default"),
]


class ShopView(BaseModel):
    shop_id: UUID
    slug: str
    name: str
    status: ShopStatus
    currency: str
    languages: list[str]
    domains: list[str]
    contact: str
    created_at: datetime
    updated_at: datetime
    fee_rate_bps: int | None = Field(
        description="The platform's fee on the shop's sales in basis points; null: the platform's default"
    )

    @classmethod
    def of(cls, shop: Shop) -> Self:
        """The shop as its ShopChanged tells it, when it was opened and last changed, and its fee rate."""
        return cls(
            **shop.changed().model_dump(),
            created_at=shop.created_at,
            updated_at=shop.updated_at,
            fee_rate_bps=shop.fee_rate_bps,
        )


class ShopPage(BaseModel):
    items: list[ShopView]
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class NewShop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Name
    status: OpeningStatus = Field(default="pending", description="pending, or active to open it at once")
    currency: Currency = "CNY"
    languages: Languages = Field(default_factory=lambda: list(LANGUAGES))
    contact: Contact = ""
    domains: Domains = Field(default_factory=list)


class ShopSettings(BaseModel):
    """The settings to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    contact: Contact | None = None
    currency: Currency | None = None
    languages: Languages | None = None
    domains: Domains | None = Field(default=None, description="Replaces every domain; [] removes them")

    @model_validator(mode="after")
    def _something_and_no_nulls(self) -> Self:
        if not self.model_fields_set:
            raise ValueError(f"name at least one setting to change: {', '.join(type(self).model_fields)}")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: null is not a setting; leave a field out to keep it")
        return self


class NewStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ShopStatus = Field(
        description="pending -> active; active <-> suspended; any -> closed (final); "
        "the status the shop has: no change"
    )


class FeeRate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fee_rate_bps: int | None = Field(
        ge=0,
        le=MAX_FEE_RATE_BPS,
        description="Basis points of each sale (250 = 2.5 %); null: the platform's default",
        examples=[250],
    )


api = APIRouter(prefix="/shops", tags=["shops"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such shop"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {"description": "A slug, host or setting breaks its rules"}}


@api.post(
    "",
    status_code=201,
    summary="Open a shop",
    responses={409: {"description": "The slug or a domain belongs to another shop"}, **INVALID},
)
async def open_shop(body: NewShop, service: ServiceDep) -> ShopView:
    command = commands.OpenShop(
        slug=body.slug,
        name=body.name,
        status=body.status,
        currency=body.currency,
        languages=tuple(body.languages),
        contact=body.contact,
        domains=tuple(body.domains),
    )
    return ShopView.of(await shops.open_shop(command, service.uow()))


@api.get("", summary="Shops in slug order, a page at a time")
async def list_shops(
    service: ServiceDep,
    after: Annotated[
        str | None, Query(max_length=MAX_SLUG, pattern=r"^[a-z0-9-]+$", description="The last slug seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
    status: Annotated[list[ShopStatus] | None, Query(description="Only shops in these statuses")] = None,
) -> ShopPage:
    page = await shops.list_shops(service.uow(), after=after, limit=limit, statuses=status or ())
    return ShopPage(
        items=[ShopView.of(shop) for shop in page],
        next_after=page[-1].slug if len(page) == limit else None,
    )


class FeeRateView(BaseModel):
    shop_id: UUID
    fee_rate_bps: int | None = Field(description="Basis points; null: the platform's default")


class FeeRates(BaseModel):
    items: list[FeeRateView]


# Declared before /{shop_id}, which would otherwise take "fee-rates" for a (malformed) shop id.
@api.get("/fee-rates", summary="The fee rates of the shops named, or of every shop whose rate is set")
async def fee_rates(
    service: ServiceDep,
    shop_id: Annotated[
        list[UUID] | None,
        Query(
            max_length=MAX_FEE_RATES,
            description=f"Up to {MAX_FEE_RATES} shops (unknown ones are left out); none: every shop whose"
            " rate is set",
        ),
    ] = None,
) -> FeeRates:
    rates = await shops.fee_rates(service.uow(), shop_id)
    return FeeRates(items=[FeeRateView(shop_id=k, fee_rate_bps=v) for k, v in sorted(rates.items())])


# Declared before /{shop_id}, which would otherwise take "resolve" for a (malformed) shop id.
@api.get(
    "/resolve",
    summary="The shop a storefront address names: its slug or one of its domains",
    responses={**NOT_FOUND, **INVALID, 400: {"description": "Neither or both of slug and host"}},
)
async def resolve_shop(
    service: ServiceDep,
    slug: Annotated[Slug | None, Query()] = None,
    host: Annotated[Host | None, Query()] = None,
) -> ShopView:
    if (slug is None) == (host is None):
        raise DomainError("name the shop by exactly one of slug or host")
    if slug is not None:
        return ShopView.of(await shops.shop_by_slug(slug, service.uow()))
    assert host is not None
    return ShopView.of(await shops.shop_by_host(host, service.uow()))


@api.get("/{shop_id}", summary="A shop", responses=NOT_FOUND)
async def get_shop(shop_id: UUID, service: ServiceDep) -> ShopView:
    return ShopView.of(await shops.get_shop(shop_id, service.uow()))


@api.patch(
    "/{shop_id}",
    summary="Change a shop's settings (name, contact, currency, languages, domains)",
    responses={
        **NOT_FOUND,
        **INVALID,
        409: {"description": "A domain belongs to another shop, or the shop is closed"},
    },
)
async def change_shop(shop_id: UUID, body: ShopSettings, service: ServiceDep) -> ShopView:
    command = commands.ChangeShop(
        shop_id=shop_id,
        name=body.name,
        contact=body.contact,
        currency=body.currency,
        languages=None if body.languages is None else tuple(body.languages),
        domains=None if body.domains is None else tuple(body.domains),
    )
    return ShopView.of(await shops.change_shop(command, service.uow()))


@api.post(
    "/{shop_id}/status",
    summary="Move a shop to another status",
    responses={**NOT_FOUND, 409: {"description": "The shop's status cannot become the one asked for"}},
)
async def change_shop_status(shop_id: UUID, body: NewStatus, service: ServiceDep) -> ShopView:
    command = commands.ChangeShopStatus(shop_id=shop_id, status=body.status)
    return ShopView.of(await shops.change_shop_status(command, service.uow()))


@api.put(
    "/{shop_id}/fee-rate",
    summary="Set the platform's fee on a shop's sales (basis points; null: the platform's default)",
    responses=NOT_FOUND,
)
async def set_fee_rate(shop_id: UUID, body: FeeRate, service: ServiceDep) -> ShopView:
    command = commands.SetShopFeeRate(shop_id=shop_id, fee_rate_bps=body.fee_rate_bps)
    return ShopView.of(await shops.set_fee_rate(command, service.uow()))


def router(service: Service) -> APIRouter:
    """The shop routes behind the internal callers' authentication."""
    internal = internal_router(service.runtime.settings, callers=CALLERS)
    internal.include_router(api)
    return internal


def build_app(service: Service) -> FastAPI:
    routers = [
        router(service),
        accounts.router(service),
        memberships.router(service),
        api_tokens.router(service),
        audit.router(service),
        resealing_router(service.settings, service.runtime.sessions, service.settings.keyring(), [SEALED]),
    ]
    app = create_app(service.runtime, routers, title="faka merchant service")
    app.state.service = service
    return app
