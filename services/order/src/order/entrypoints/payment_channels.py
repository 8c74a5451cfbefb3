"""A shop's payment channels (gateway only): list them (never a secret), set one provider's, remove one."""

from __future__ import annotations

from typing import Any

from faka_common.contracts.payment_channels import PROVIDER_NAMES, ChannelBody, ProviderName, channel_body
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Response
from pydantic import BaseModel

from order.bootstrap import Service
from order.domain.payment_channels import ShopChannel
from order.service_layer import payment_channels


class ChannelView(BaseModel):
    provider: str
    enabled: bool
    credentials: dict[str, Any]
    updated_at: str


class ChannelList(BaseModel):
    items: list[ChannelView]


def channel_view(channel: ShopChannel) -> ChannelView:
    return ChannelView(
        provider=channel.provider,
        enabled=channel.enabled,
        credentials=channel.shown,
        updated_at=channel.updated_at.isoformat(),
    )


def payment_channels_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})

    @api.get(
        "/payment-channels",
        summary="The shop's own payment channels: provider, enabled, the credentials that are no secret, "
        "and `<secret>_set` for each secret (never its value)",
    )
    async def list_channels(shop: ShopScope) -> ChannelList:
        found = await payment_channels.shop_channels(service.uow(), shop)
        return ChannelList(items=[channel_view(c) for c in found])

    def channel_routes(provider: ProviderName) -> None:
        """PUT and DELETE of one provider's channel (a path each: its body is the provider's own)."""
        path = f"/payment-channels/{provider}"

        async def put_channel(shop: ShopScope, body: ChannelBody[Any]) -> ChannelView:
            channel = await payment_channels.put_channel(
                service.uow(), shop, provider, body.enabled, body.credentials, service.providers,
                service.settings,
            )  # fmt: skip
            return channel_view(channel)

        async def remove_channel(shop: ShopScope) -> Response:
            await payment_channels.remove_channel(service.uow(), shop, provider)
            return Response(status_code=204)

        put_channel.__annotations__["body"] = channel_body(provider)
        api.put(
            path,
            summary=f"Set the shop's {provider} channel: its credentials, checked as the platform's own are, "
            "sealed at rest; the shop's buyers pay the shop through it while it is enabled",
            name=f"put_{provider}_channel",
            operation_id=f"put_{provider}_payment_channel",
        )(put_channel)
        api.delete(
            path,
            status_code=204,
            summary=f"Remove the shop's {provider} channel (its credentials are deleted; the platform's "
            "takes over); 404 when the shop has none",
            name=f"remove_{provider}_channel",
            operation_id=f"remove_{provider}_payment_channel",
        )(remove_channel)

    for provider in PROVIDER_NAMES:
        channel_routes(provider)

    return api
