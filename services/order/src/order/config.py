"""Order service settings."""

from __future__ import annotations

from pathlib import Path
from typing import Self
from uuid import UUID

from faka_common import sandbox_payment
from faka_common.contracts.payment_channels import (
    CREDENTIALS,
    Credentials,
    ProviderName,
    provider_name,
)
from faka_common.fields import printable_message
from faka_common.outbound import OutboundAllowList, OutboundPolicy
from faka_common.settings import KeyRingSettings
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

DEV_ORDER_TOKEN_SECRET = "dev-order-token-secret-change-me"

#: Each provider's credentials in the settings: `<PREFIX>_<FIELD>` for each field of its credentials model.
SETTING_PREFIX: dict[ProviderName, str] = {
    "sandbox": "sandbox",
    "epay": "epay",
    "alipay": "alipay",
    "wechatpay": "wechatpay",
    "stripe": "stripe",
    "usdt": "epusdt",
}


class PaymentChannel(BaseModel):
    """A provider offered for some products and an amount range (minor units, inclusive)."""

    provider: str
    products: list[UUID] | None = Field(default=None, description="None: every product")
    min_amount: int = 0
    max_amount: int | None = None

    def allows(self, product_id: UUID, amount: int) -> bool:
        if self.products is not None and product_id not in self.products:
            return False
        return self.min_amount <= amount and (self.max_amount is None or amount <= self.max_amount)


class Settings(KeyRingSettings):
    """The keyring seals the shops' payment channel credentials at rest."""

    service_name: str = "order"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_order"
    http_port: int = 8001
    inventory_url: str = "http://127.0.0.1:8002"
    public_base_url: str = "http://127.0.0.1:8000"
    payment_window_seconds: int = 600
    sandbox_secret: SecretStr = SecretStr(sandbox_payment.DEV_SANDBOX_SECRET)
    order_token_secret: SecretStr = SecretStr(DEV_ORDER_TOKEN_SECRET)
    expiry_sweep_seconds: float = 5.0

    # Payments: which providers are on, and where each may be offered.
    payment_providers: list[str] = Field(default_factory=lambda: ["sandbox"])
    payment_channels: list[PaymentChannel] = Field(
        default_factory=list, description="Empty: every enabled provider for every product and amount"
    )
    sandbox_drop_callbacks: bool = False
    epay_url: str = ""
    epay_pid: str = ""
    epay_key: SecretStr = SecretStr("")
    epay_type: str = "alipay"
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    alipay_app_id: str = ""
    alipay_private_key: SecretStr = SecretStr("")
    alipay_public_key: str = ""
    alipay_seller_id: str = ""
    wechatpay_api_url: str = "https://api.mch.weixin.qq.com"
    wechatpay_appid: str = ""
    wechatpay_mchid: str = ""
    wechatpay_merchant_serial: str = ""
    wechatpay_private_key: SecretStr = SecretStr("")
    #: Optional pinned platform key (WeChat Pay's "public key" mode, or a bootstrap certificate); the
    #: rotating platform certificates are fetched from /v3/certificates either way.
    wechatpay_platform_serial: str = ""
    wechatpay_platform_public_key: str = ""
    wechatpay_apiv3_key: SecretStr = SecretStr("")
    stripe_api_url: str = "https://api.stripe.com"
    stripe_secret_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    epusdt_url: str = ""
    epusdt_token: SecretStr = SecretStr("")
    epusdt_wallet: str = ""
    #: Where a shop's payment channel may send us (its epay or epusdt gateway): lab networks or hosts.
    outbound_allow_list: OutboundAllowList = ()

    # Reconciliation: ask providers about unpaid orders this close to (or this long past) their expiry.
    reconcile_interval_seconds: float = 30.0
    reconcile_lead_seconds: int = 120
    reconcile_lookback_seconds: int = 1800

    # Late-payment policy: automatic refunds of paid orders that found no stock.
    auto_refund_interval_seconds: float = 10.0
    auto_refund_max_attempts: int = 5
    auto_refund_backoff_seconds: float = 30.0

    # Buyer lookups are rate-limited at the gateway (LOOKUP_* there), which sees the client's address.
    order_token_lifetime_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="How long a buyer's order link (its access token) works after it is issued; rotating "
        "the order's secret (admin) revokes the old link and issues a fresh one",
    )
    idempotency_ttl_hours: int = 48
    # Admission (service_layer/services.admit): a new order is turned away at once (503 busy, Retry-After)
    # while `max_late_orders` of every shop have waited longer than `late_after_seconds` for their stock
    max_late_orders: int = Field(
        default=20,
        ge=0,
        description="Late orders (of every shop) past which new ones are turned away; 0: none",
    )
    late_after_seconds: float = Field(
        default=3.0, gt=0, description="How long an order may wait for its stock (risk, reservation) in time"
    )
    late_horizon_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Orders placed longer ago than this no longer count as late: stuck ones (a dead-lettered "
        "event, say) are the watchdog's, and never close the shop",
    )
    late_count_seconds: float = Field(
        default=1.0, gt=0, description="How often each replica counts the late orders"
    )

    def development_secrets(self) -> dict[str, str]:
        return {
            **super().development_secrets(),
            "sandbox_secret": sandbox_payment.DEV_SANDBOX_SECRET,
            "order_token_secret": DEV_ORDER_TOKEN_SECRET,
        }

    def credentials(self, provider: ProviderName) -> Credentials:
        """The platform's own credentials of `provider`, checked by the model a shop's channel is checked by
        (ValueError naming the settings that are missing or wrong)."""
        model = CREDENTIALS[provider]
        prefix = SETTING_PREFIX[provider]
        values = {}
        for name in model.model_fields:
            value = getattr(self, f"{prefix}_{name}")
            values[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        try:
            return model.model_validate(values)
        except ValidationError as error:
            problems = [
                f"{prefix}_{problem['loc'][0]}".upper()
                + f" is not set or not valid ({printable_message(problem) or problem['msg']})"
                if problem["loc"]
                else str(problem["msg"]).removeprefix("Value error, ")
                for problem in error.errors()
            ]
            raise ValueError(f"payment provider {provider} is enabled but {'; '.join(problems)}") from None

    def outbound(self) -> OutboundPolicy:
        """Where a shop's payment channel may point us (https only in production)."""
        return OutboundPolicy.of(self.environment, self.outbound_allow_list)

    @model_validator(mode="after")
    def _providers_are_configured(self) -> Self:
        for provider in self.payment_providers:
            self.credentials(provider_name(provider))
        if bool(self.wechatpay_platform_serial) != bool(self.wechatpay_platform_public_key):
            raise ValueError(
                "set both WECHATPAY_PLATFORM_SERIAL and WECHATPAY_PLATFORM_PUBLIC_KEY, or neither "
                "(the platform certificates are then fetched from /v3/certificates)"
            )
        if self.environment == "production" and "sandbox" in self.payment_providers:
            raise ValueError(
                "the sandbox payment provider takes no money: remove it from PAYMENT_PROVIDERS in production"
            )
        for channel in self.payment_channels:
            if channel.provider not in self.payment_providers:
                raise ValueError(f"payment channel names provider {channel.provider!r}, which is not enabled")
        return self
