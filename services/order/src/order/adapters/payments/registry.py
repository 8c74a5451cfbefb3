"""The enabled payment providers, built from settings, and the channel rules that offer them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
from faka_common.contracts.payment_channels import Credentials, provider_name
from faka_common.db.uow import SessionFactory
from faka_common.errors import NotFound

from order.adapters.payer_lists import NoPayerLists, PayerLists
from order.adapters.payments.alipay import AlipayProvider
from order.adapters.payments.base import PaymentAdapter
from order.adapters.payments.epay import EpayProvider
from order.adapters.payments.epusdt import EpusdtProvider
from order.adapters.payments.sandbox import DbLedger, SandboxProvider
from order.adapters.payments.stripe import StripeProvider
from order.adapters.payments.wechatpay import WechatPayProvider
from order.config import PaymentChannel, Settings

if TYPE_CHECKING:
    from order.adapters.payment_channels import ChannelAdapters


class PaymentProviders:
    """The platform's providers, and (`shops`) the adapters of the shops' own channels."""

    def __init__(
        self,
        adapters: Mapping[str, PaymentAdapter],
        channels: Iterable[PaymentChannel] = (),
        shops: ChannelAdapters | None = None,
    ) -> None:
        self._adapters = dict(adapters)
        self._channels = list(channels)
        self.shops = shops
        #: What a paid order's payer is checked against before the payment is announced.
        self.payers: PayerLists = NoPayerLists()

    @property
    def names(self) -> list[str]:
        return list(self._adapters)

    def get(self, name: str) -> PaymentAdapter:
        adapter = self._adapters.get(name)
        if adapter is None:
            raise NotFound(f"unknown payment provider {name[:40]!r}")
        return adapter

    def channels_for(self, product_id: UUID, amount: int) -> list[str]:
        """The providers a buyer may pay this product and amount with, in configured order."""
        if not self._channels:
            return self.names
        offered: list[str] = []
        for channel in self._channels:
            usable = channel.provider in self._adapters and channel.allows(product_id, amount)
            if usable and channel.provider not in offered:
                offered.append(channel.provider)
        return offered


def adapter(
    provider: str,
    credentials: Credentials,
    site: str,
    settings: Settings,
    http: httpx.AsyncClient,
    sessions: SessionFactory,
) -> PaymentAdapter:
    """The adapter of `provider` with these credentials, for the storefront at `site` (its notify and return
    URLs are there). A key that cannot be read is a ValueError naming the field."""
    notify = f"{site}/api/v1/payments/{provider}/notify"
    c: Any = credentials
    makers: dict[str, Callable[[], PaymentAdapter]] = {
        "sandbox": lambda: SandboxProvider(
            c.secret, site, DbLedger(sessions), http, settings.sandbox_drop_callbacks
        ),
        "epay": lambda: EpayProvider(c.url, c.pid, c.key, notify, site, http, c.type),
        "alipay": lambda: AlipayProvider(
            settings.alipay_gateway_url, c.app_id, c.private_key, c.public_key, notify, site, http,
            c.seller_id or None,
        ),
        "wechatpay": lambda: WechatPayProvider(
            settings.wechatpay_api_url, c.appid, c.mchid, c.merchant_serial, c.private_key,
            c.platform_serial, c.platform_public_key, c.apiv3_key, notify, http,
        ),
        "stripe": lambda: StripeProvider(
            settings.stripe_api_url, c.secret_key, c.webhook_secret, site, site, http
        ),
        "usdt": lambda: EpusdtProvider(c.url, c.token, notify, site, http, c.wallet or None),
    }  # fmt: skip
    return makers[provider]()


def build(settings: Settings, http: httpx.AsyncClient, sessions: SessionFactory) -> PaymentProviders:
    """The platform's own providers (PAYMENT_PROVIDERS, with their credentials from the settings)."""
    base = settings.public_base_url.rstrip("/")
    adapters = {
        name: adapter(name, settings.credentials(provider_name(name)), base, settings, http, sessions)
        for name in settings.payment_providers
    }
    return PaymentProviders(adapters, settings.payment_channels)
