"""A shop's own payment channels (the order service's, ORDER_URL): list them (never a secret), set one
provider's credentials, remove one. Changing credentials wants an owner or manager with a second factor
within 5 minutes. Bodies are the order service's own models (faka_common.contracts.payment_channels), one
route per provider, so what passes here passes there."""

from __future__ import annotations

from typing import Any

from faka_common.contracts.payment_channels import PROVIDER_NAMES, ChannelBody, ProviderName, channel_body
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway
from gateway.entrypoints.access import admin_api, requires
from gateway.entrypoints.requests import PRIVATE


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

    def channel_routes(provider: ProviderName) -> None:
        """PUT and DELETE of one provider's channel (a path each: its body is the provider's own)."""
        path = f"/payment-channels/{provider}"

        async def put_channel(body: ChannelBody[Any]) -> Response:
            return await call("PUT", f"/internal{path}", json=body.model_dump(mode="json"))

        async def remove_channel() -> Response:
            return await call("DELETE", f"/internal{path}")

        put_channel.__annotations__["body"] = channel_body(provider)
        api.put(
            path,
            summary=f"Set the shop's own {provider} channel (all its credentials; sealed at rest, never "
            "shown again): the shop's buyers then pay the shop through it while it is enabled. A second "
            "factor within the last 5 minutes",
            name=f"put_{provider}_channel",
            operation_id=f"put_{provider}_payment_channel",
            dependencies=[requires(gw, "payments:credentials")],
        )(put_channel)
        api.delete(
            path,
            status_code=204,
            summary=f"Remove the shop's own {provider} channel and its credentials (the platform's, if it "
            "offers it, takes over); 404 when the shop has none",
            name=f"remove_{provider}_channel",
            operation_id=f"remove_{provider}_payment_channel",
            dependencies=[requires(gw, "payments:credentials")],
        )(remove_channel)

    for provider in PROVIDER_NAMES:
        channel_routes(provider)

    return api
