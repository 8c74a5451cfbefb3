"""Gateway service settings."""

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from faka_common.sandbox_payment import DEV_SANDBOX_SECRET
from faka_common.settings import ServiceSettings
from pydantic import Field, IPvAnyNetwork, SecretStr, model_validator

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(ServiceSettings):
    service_name: str = "gateway"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_gateway"
    http_port: int = 8000
    order_url: str = "http://127.0.0.1:8001"
    inventory_url: str = "http://127.0.0.1:8002"
    delivery_url: str = "http://127.0.0.1:8003"
    notification_url: str = "http://127.0.0.1:8006"
    merchant_url: str = "http://127.0.0.1:8007"
    risk_url: str = "http://127.0.0.1:8004"
    shop_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a shop's answer from merchant is kept (a suspension shows within it)",
    )
    platform_hosts: list[str] = Field(
        default_factory=list,
        description="Host names of the platform itself besides PUBLIC_BASE_URL's, localhost and loopback: "
        "they serve the default shop at / and every shop at /s/<slug>/; any other host is a shop's domain",
    )
    principal_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long who a console session or an API token is stays cached (Redis) before merchant "
        "is asked again: a session revoked elsewhere stops working within it",
    )
    admin_auth_failures_per_ip_per_minute: int = Field(
        default=20, ge=1, description="Failed console-session or API-token checks one address may make"
    )
    sandbox_secret: SecretStr = SecretStr(DEV_SANDBOX_SECRET)
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Where buyers and payment providers reach the gateway"
    )
    max_notification_bytes: int = 64 * 1024
    default_fee_rate_bps: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="The platform's fee on a shop's sales in basis points (250 = 2.5 %) for a shop the "
        "platform set no rate of; the figures show it and the net",
    )
    key_import_timeout_seconds: float = 120.0
    storefront_redis_timeout_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How long the storefront waits for its Redis read model before asking inventory",
    )

    # Admission (entrypoints/admission.py): past these, the gateway answers 503 with Retry-After at once.
    max_in_flight_placing: int = Field(
        default=200,
        ge=0,
        description="Requests in flight (of every kind) past which a new order is turned away; 0: no bound",
    )
    max_in_flight: int = Field(
        default=800,
        ge=0,
        description="Requests in flight past which any request but a payment notification, a health check, "
        "metrics or an order's event stream is turned away; 0: no bound",
    )

    # Buyer lookups (order number + secret: failed attempts only; e-mail + password: every attempt).
    lookup_limit_storage_url: str = Field(
        default="", description="limits storage URI; empty: REDIS_URL (memory:// for tests without Redis)"
    )
    lookup_per_ip_per_minute: int = Field(default=10, ge=1)
    lookup_per_order_per_hour: int = Field(default=20, ge=1)
    lookup_per_email_per_hour: int = Field(default=20, ge=1)
    # Order placement (every attempt), in the same store.
    orders_per_ip_per_hour: int = Field(default=20, ge=1, description="Orders one client address may place")
    orders_per_email_per_hour: int = Field(default=10, ge=1, description="Orders one e-mail may place")
    # Requests for an order's link by e-mail (every request, whatever the answer), in the same store.
    link_emails_per_ip_per_hour: int = Field(
        default=10, ge=1, description="Order links one client address may ask to be e-mailed"
    )
    link_emails_per_order_per_hour: int = Field(
        default=3, ge=1, description="Times one order number's link may be asked to be e-mailed"
    )

    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks of the reverse proxies in front of the gateway (JSON list of CIDRs, e.g. "
        '["10.0.0.0/8"]); X-Forwarded-For is read only from a peer in them. Empty: the socket address is '
        "the client's",
    )
    payment_providers: list[str] | None = Field(
        default=None,
        description="The order service's PAYMENT_PROVIDERS; the sandbox checkout pages are mounted only when "
        "it holds sandbox. Unset: sandbox outside production, nothing in production",
    )

    # Buyer notices on Telegram: the order page links to the bot, the bot's webhook links the chat.
    telegram_bot_username: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$",
        description="The shop bot's username (without @); unset: the order page shows no Telegram link",
    )
    telegram_link_secret: SecretStr | None = Field(
        default=None, description="HMAC secret of the deep-link tokens; notification's TELEGRAM_LINK_SECRET"
    )
    telegram_link_ttl_seconds: int = Field(
        default=24 * 3600, ge=60, le=30 * 24 * 3600, description="How long an order page's link works"
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The secret_token given to setWebhook; Telegram sends it in "
        "X-Telegram-Bot-Api-Secret-Token. Unset: the webhook answers 404",
    )

    def development_secrets(self) -> dict[str, str]:
        return {
            **super().development_secrets(),
            "sandbox_secret": DEV_SANDBOX_SECRET,
        }

    def optional_secrets(self) -> tuple[str, ...]:
        return ("telegram_link_secret", "telegram_webhook_secret")

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")

    @property
    def own_hosts(self) -> frozenset[str]:
        """The hosts that are the platform's, not a shop's custom domain."""
        base = urlsplit(self.public_base_url).hostname or ""
        return frozenset({base, "localhost", "127.0.0.1", "::1", *(h.lower() for h in self.platform_hosts)})

    @property
    def sandbox_enabled(self) -> bool:
        if self.payment_providers is None:
            return self.environment != "production"
        return "sandbox" in self.payment_providers

    @model_validator(mode="after")
    def _no_sandbox_in_production(self) -> Self:
        if self.environment == "production" and self.sandbox_enabled:
            raise ValueError("the sandbox payment provider takes no money: no sandbox pages in production")
        return self
