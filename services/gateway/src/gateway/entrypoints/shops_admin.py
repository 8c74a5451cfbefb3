"""The platform's shops: open one, list them, change one's details or status (the merchant service owns
them). Platform staff only: the admin key, until people sign in."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from faka_common.fields import Line
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway
from gateway.entrypoints.http import admin_auth
from gateway.entrypoints.responses import ADMIN

Slug = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")]
Language = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]


class NewShop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug = Field(examples=["game-cards"], description="Its storefront: /s/<slug>/")
    name: Line = Field(min_length=1, max_length=120, examples=["Game Cards"])
    status: Literal["pending", "active"] = Field(default="pending", description="active: open it at once")
    currency: Currency = "CNY"
    languages: list[Language] = Field(default_factory=lambda: ["zh-CN", "en"], max_length=16)
    contact: Line = Field(default="", max_length=254)
    domains: list[Host] = Field(default_factory=list, max_length=16, examples=[["cards.example.com"]])


class ShopChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line | None = Field(default=None, min_length=1, max_length=120)
    currency: Currency | None = None
    languages: list[Language] | None = Field(default=None, max_length=16)
    contact: Line | None = Field(default=None, max_length=254)
    domains: list[Host] | None = Field(default=None, max_length=16)


ShopStatus = Literal["pending", "active", "suspended", "closed"]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "suspended", "closed"]


def shops_admin_router(gw: Gateway) -> APIRouter:
    api = APIRouter(
        prefix="/api/platform/shops", tags=["platform"], dependencies=[admin_auth(gw)], responses=ADMIN
    )

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        return json_body(await gw.merchant.request(method, f"/internal/shops{path}", **kwargs))

    @api.post("", status_code=201, summary="Open a shop (409 when its slug or a domain is taken)")
    async def open_shop(shop: NewShop) -> Any:
        return await call("POST", "", json=shop.model_dump(mode="json"))

    @api.get("", summary="The platform's shops in slug order, a page at a time (next_after: the next page)")
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

    @api.get("/{shop_id}", summary="One shop")
    async def get_shop(shop_id: UUID) -> Any:
        return await call("GET", f"/{shop_id}")

    @api.patch("/{shop_id}", summary="Change a shop's name, currency, languages, contact or domains")
    async def change_shop(shop_id: UUID, changes: ShopChanges) -> Any:
        changed = await call("PATCH", f"/{shop_id}", json=changes.model_dump(mode="json", exclude_none=True))
        gw.shops.forget(shop_id)
        return changed

    @api.post(
        "/{shop_id}/status",
        summary="Activate, suspend or close a shop (a suspended shop sells nothing but still delivers "
        "what was paid; closed is final)",
    )
    async def change_status(shop_id: UUID, change: StatusChange) -> Any:
        changed = await call("POST", f"/{shop_id}/status", json=change.model_dump())
        gw.shops.forget(shop_id)
        return changed

    return api
