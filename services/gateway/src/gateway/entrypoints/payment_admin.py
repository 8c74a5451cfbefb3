"""A shop's own payment channels (the order service's, ORDER_URL): list them (never a secret), set one
provider's credentials, remove one. Changing credentials wants an owner or manager with a second factor
within 5 minutes. Bodies are the order service's own models (faka_common.contracts.payment_channels), one
route per provider, so what passes here passes there."""

from __future__ import annotations

from typing import Any

from faka_common.contracts.payment_channels import (
    PROVIDER_NAMES,
    ChannelBody,
    ProviderName,
    channel_body,
)
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway
from gateway.entrypoints.access import admin_api, requires
from gateway.entrypoints.http import PRIVATE


def payment_admin_router(gw: Gateway) -> APIRouter:
    api = admin_api(gw, tags=["admin: payments"])

    async def call(method: str, path: str, **kwargs: Any) -> Response:
        response = await gw.order.request(method, path, **kwargs)
        if response.status_code == 204:
            return Response(status_code=204)
        return JSONResponse(json_body(response), status_code=response.status_code, headers=PRIVATE)

    @api.get(
        "/payment-channels",
        summary="The shop's own payment channels: provider, enabled, the credentials that are no secret and "
        "`<secret>_set` for each secret (never its value)",
        dependencies=[requires(gw, "payments:read")],
    )
    async def list_channels() -> Response:
        return await call("GET", "/internal/payment-channels")

    def put_route(provider: ProviderName) -> None:
        async def put_channel(body: ChannelBody[Any]) -> Response:
            path = f"/internal/payment-channels/{provider}"
            return await call("PUT", path, json=body.model_dump(mode="json"))

        put_channel.__annotations__["body"] = channel_body(provider)
        api.put(
            f"/payment-channels/{provider}",
            summary=f"Set the shop's own {provider} channel (all its credentials; sealed at rest, never "
            "shown again): the shop's buyers then pay the shop through it while it is enabled. A second "
            "factor within the last 5 minutes",
            name=f"put_{provider}_channel",
            operation_id=f"put_{provider}_payment_channel",
            dependencies=[requires(gw, "payments:credentials")],
        )(put_channel)

    for provider in PROVIDER_NAMES:
        put_route(provider)

    @api.delete(
        "/payment-channels/{provider}",
        status_code=204,
        summary="Remove the shop's own channel and its credentials (the platform's, if offered, takes over)",
        dependencies=[requires(gw, "payments:credentials")],
    )
    async def remove_channel(provider: ProviderName) -> Response:
        return await call("DELETE", f"/internal/payment-channels/{provider}")

    return api
