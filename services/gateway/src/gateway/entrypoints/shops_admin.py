"""The platform's shops: open one, list them, change one's details or status (the merchant service owns
them). Platform staff only: admins change, support reads."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from faka_common.fields import Line, NonBlankLine
from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway
from gateway.entrypoints.access import platform_api, requires

Slug = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")]
#: A DNS name of two labels or more, each 1-63 letters, digits and hyphens not at either end; the top-level
#: label starts with a letter (com, xn--fiqs8s).
Host = Annotated[
    str,
    Field(
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
        examples=["cards.example.com"],
    ),
]
Language = Literal["zh-CN", "en"]


def _each_once(languages: list[str]) -> list[str]:
    if len(set(languages)) != len(languages):
        raise ValueError("each language once")
    return languages


#: The storefront's languages, the first the default; each once.
Languages = Annotated[
    list[Language],
    Field(min_length=1, max_length=2, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_each_once),
]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]


class NewShop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug = Field(examples=["game-cards"], description="Its storefront: /s/<slug>/")
    name: NonBlankLine = Field(max_length=100, examples=["Game Cards"])
    status: Literal["pending", "active"] = Field(default="pending", description="active: open it at once")
    currency: Currency = "CNY"
    languages: Languages = Field(default_factory=lambda: list(get_args(Language)))
    contact: Line = Field(default="", max_length=200)
    domains: list[Host] = Field(default_factory=list, max_length=20, examples=[["cards.example.com"]])


class ShopChanges(BaseModel):
    """The settings to change (at least one); a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: Annotated[NonBlankLine, Field(max_length=100)] | SkipJsonSchema[None] = None
    currency: Currency | SkipJsonSchema[None] = None
    languages: Languages | SkipJsonSchema[None] = None
    contact: Annotated[Line, Field(max_length=200)] | SkipJsonSchema[None] = None
    domains: Annotated[list[Host], Field(max_length=20)] | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _something_and_no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data:
                raise ValueError(
                    "name at least one setting to change: name, contact, currency, languages, domains"
                )
            nulls = sorted(name for name, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: give a value (leave a setting out to keep it)")
        return data


ShopStatus = Literal["pending", "active", "suspended", "closed"]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "suspended", "closed"]


class FeeRate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fee_rate_bps: int | None = Field(
        ge=0, le=10_000, description="Basis points of each sale; null: the platform's default", examples=[250]
    )


def shops_admin_router(gw: Gateway) -> APIRouter:
    api = platform_api(gw, prefix="/api/platform/shops")

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        return json_body(await gw.merchant.request(method, f"/internal/shops{path}", **kwargs))

    async def change(method: str, shop_id: UUID, path: str, body: dict[str, Any]) -> Any:
        """A change of the shop at merchant; the gateway's cached copy is forgotten."""
        changed = await call(method, f"/{shop_id}{path}", json=body)
        gw.shops.forget(shop_id)
        return changed

    @api.post(
        "",
        status_code=201,
        summary="Open a shop (409 when its slug or a domain is taken)",
        dependencies=[requires(gw, "platform:write")],
    )
    async def open_shop(shop: NewShop) -> Any:
        return await call("POST", "", json=shop.model_dump(mode="json"))

    @api.get(
        "",
        summary="The platform's shops in slug order, a page at a time (next_after: the next page)",
        dependencies=[requires(gw, "platform:read")],
    )
    async def list_shops(
        after: Annotated[
            str | None, Query(max_length=40, pattern=r"^[a-z0-9-]+$", description="The last slug seen")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        status: Annotated[list[ShopStatus] | None, Query(description="Only shops in these statuses")] = None,
    ) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        if status:
            params["status"] = status
        return await call("GET", "", params=params)

    @api.get("/{shop_id}", summary="One shop", dependencies=[requires(gw, "platform:read")])
    async def get_shop(shop_id: UUID) -> Any:
        return await call("GET", f"/{shop_id}")

    @api.patch(
        "/{shop_id}",
        summary="Change a shop's name, currency, languages, contact or domains",
        dependencies=[requires(gw, "platform:write")],
    )
    async def change_shop(shop_id: UUID, changes: ShopChanges) -> Any:
        return await change("PATCH", shop_id, "", changes.model_dump(mode="json", exclude_none=True))

    @api.post(
        "/{shop_id}/status",
        summary="Activate, suspend or close a shop (a suspended shop sells nothing but still delivers "
        "what was paid; closed is final)",
        dependencies=[requires(gw, "platform:write")],
    )
    async def change_status(shop_id: UUID, status: StatusChange) -> Any:
        return await change("POST", shop_id, "/status", status.model_dump())

    @api.put(
        "/{shop_id}/fee-rate",
        summary="Set the platform's fee on a shop's sales in basis points (250 = 2.5 %), or null for the "
        "platform's default (DEFAULT_FEE_RATE_BPS); the figures show fees and net from then on",
        dependencies=[requires(gw, "platform:write")],
    )
    async def set_fee_rate(shop_id: UUID, rate: FeeRate) -> Any:
        return await change("PUT", shop_id, "/fee-rate", rate.model_dump())

    return api
