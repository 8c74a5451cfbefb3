"""Wires the gateway: settings, the owners' clients, the sandbox provider's HTTP client, the runtime."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from faka_common.key_reveals import KeyReveals
from faka_common.runtime import Runtime

from gateway.adapters.order_changes import OrderChanges, RedisOrderChanges
from gateway.adapters.owners import Owner, ShopOwner, owner_client, provider_client
from gateway.adapters.principals import MerchantPrincipals, Principals
from gateway.adapters.shops import MerchantShops, Shops
from gateway.adapters.storefront import RedisStorefront, Storefront
from gateway.config import MIGRATIONS, Settings


@dataclass
class Gateway:
    """Everything the routers need; built without the runtime so tests can inject fake owners."""

    settings: Settings
    order: Owner
    inventory: Owner
    provider_http: httpx.AsyncClient
    delivery: Owner
    storefront: Storefront
    notification: Owner
    changes: OrderChanges
    shops: Shops
    merchant: Owner
    principals: Principals
    risk: Owner
    #: Inventory's key reveals, the ones asked at the same moment (a run of deliveries) in one request.
    reveals: KeyReveals

    @property
    def sandbox_secret(self) -> str:
        return self.settings.sandbox_secret.get_secret_value()

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    async def aclose(self) -> None:
        await self.order.aclose()
        await self.inventory.aclose()
        await self.delivery.aclose()
        await self.provider_http.aclose()
        await self.storefront.aclose()
        await self.notification.aclose()
        await self.changes.aclose()
        await self.merchant.aclose()
        await self.principals.aclose()
        await self.risk.aclose()


@dataclass
class Service:
    runtime: Runtime
    gateway: Gateway


def build_gateway(
    settings: Settings,
    order: Owner | None = None,
    inventory: Owner | None = None,
    provider_http: httpx.AsyncClient | None = None,
    delivery: Owner | None = None,
    storefront: Storefront | None = None,
    notification: Owner | None = None,
    changes: OrderChanges | None = None,
    shops: Shops | None = None,
    merchant: Owner | None = None,
    principals: Principals | None = None,
    risk: Owner | None = None,
) -> Gateway:
    """The owners' clients given (test doubles) or built from `settings`; each shop-owned owner's calls
    name the shop of the request being served (`ShopOwner`)."""
    credential = settings.credential()
    merchant = merchant or owner_client(settings.merchant_url, credential)
    inventory = inventory or owner_client(settings.inventory_url, credential)
    return Gateway(
        settings,
        ShopOwner(order or owner_client(settings.order_url, credential)),
        ShopOwner(inventory),
        provider_http or provider_client(),
        ShopOwner(delivery or owner_client(settings.delivery_url, credential)),
        storefront
        or RedisStorefront(
            settings.redis_url, settings.kafka_namespace, settings.storefront_redis_timeout_seconds
        ),
        notification=ShopOwner(notification or owner_client(settings.notification_url, credential)),
        changes=changes or RedisOrderChanges(settings.redis_url, settings.kafka_namespace),
        shops=shops or MerchantShops(merchant, settings.shop_cache_seconds),
        merchant=merchant,
        principals=principals
        or MerchantPrincipals(
            merchant, settings.redis_url, settings.kafka_namespace, settings.principal_cache_seconds
        ),
        risk=ShopOwner(risk or owner_client(settings.risk_url, credential)),
        # each order names its shop in the request's body, not in X-Shop-Id: the owner's client itself
        reveals=KeyReveals(inventory),
    )


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    gateway = build_gateway(settings)
    runtime = Runtime(settings, MIGRATIONS)
    runtime.on_stop.append(gateway.aclose)
    return Service(runtime, gateway)
