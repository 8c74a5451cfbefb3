"""The enabled payment providers, built from settings, and the channel rules that offer them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

import httpx
from faka_common.db.uow import SessionFactory
from faka_common.errors import NotFound

from order.adapters.payments.alipay import AlipayProvider
from order.adapters.payments.base import PaymentAdapter
from order.adapters.payments.epay import EpayProvider
from order.adapters.payments.epusdt import EpusdtProvider
from order.adapters.payments.sandbox import DbLedger, SandboxProvider
from order.adapters.payments.stripe import StripeProvider
from order.adapters.payments.wechatpay import WechatPayProvider
from order.config import PaymentChannel, Settings


class PaymentProviders:
    def __init__(
        self, adapters: Mapping[str, PaymentAdapter], channels: Iterable[PaymentChannel] = ()
    ) -> None:
        self._adapters = dict(adapters)
        self._channels = list(channels)

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


def build(settings: Settings, http: httpx.AsyncClient, sessions: SessionFactory) -> PaymentProviders:
    base = settings.public_base_url.rstrip("/")

    def notify(name: str) -> str:
        return f"{base}/api/v1/payments/{name}/notify"

    secret = lambda s: s.get_secret_value()  # noqa: E731
    makers = {
        "sandbox": lambda: SandboxProvider(
            secret(settings.sandbox_secret), base, DbLedger(sessions), http, settings.sandbox_drop_callbacks
        ),
        "epay": lambda: EpayProvider(
            settings.epay_url, settings.epay_pid, secret(settings.epay_key), notify("epay"), base, http,
            settings.epay_type,
        ),
        "alipay": lambda: AlipayProvider(
            settings.alipay_gateway_url, settings.alipay_app_id, secret(settings.alipay_private_key),
            settings.alipay_public_key, notify("alipay"), base, http, settings.alipay_seller_id or None,
        ),
        "wechatpay": lambda: WechatPayProvider(
            settings.wechatpay_api_url, settings.wechatpay_appid, settings.wechatpay_mchid,
            settings.wechatpay_merchant_serial, secret(settings.wechatpay_private_key),
            settings.wechatpay_platform_serial, settings.wechatpay_platform_public_key,
            secret(settings.wechatpay_apiv3_key), notify("wechatpay"), http,
        ),
        "stripe": lambda: StripeProvider(
            settings.stripe_api_url, secret(settings.stripe_secret_key),
            secret(settings.stripe_webhook_secret), base, base, http,
        ),
        "usdt": lambda: EpusdtProvider(
            settings.epusdt_url, secret(settings.epusdt_token), notify("usdt"), base, http,
            settings.epusdt_wallet or None,
        ),
    }  # fmt: skip
    adapters: dict[str, PaymentAdapter] = {name: makers[name]() for name in settings.payment_providers}
    return PaymentProviders(adapters, settings.payment_channels)
