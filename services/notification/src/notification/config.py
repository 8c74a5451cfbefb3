"""Notification service settings."""

from pathlib import Path
from typing import Self

from faka_common.breakers import BreakerStore
from faka_common.outbound import OutboundAllowList, OutboundPolicy, UnsafeURL
from faka_common.settings import ConsumerWaitMs, KeyRingSettings
from pydantic import Field, SecretStr, model_validator

from notification.domain.model import DEFAULT_ROUTES, check_routes

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(KeyRingSettings):
    """The keyring (KEY_ENCRYPTION_KEYS, KEY_FINGERPRINT_SECRET: notification's own) seals the shops' SMTP
    passwords and webhook secrets."""

    service_name: str = "notification"
    consumer_gather_ms: ConsumerWaitMs = Field(
        default=100,
        description="How long Kafka may hold the consumer's fetches to gather records (0: answered at the "
        "first record). Notices and e-mails can wait that long; the consumer then wakes at most this often "
        "instead of for every record of its five topics, most of which it does not handle",
    )
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_notification"
    http_port: int = 8006
    inventory_url: str = "http://127.0.0.1:8002"
    delivery_url: str = "http://127.0.0.1:8003"
    order_url: str = Field(
        default="http://127.0.0.1:8001", description="The order service (a buyer's link, issued at send time)"
    )
    merchant_url: str = Field(
        default="http://127.0.0.1:8007",
        description="The merchant service (a person's one-time link and address, issued at send time)",
    )
    support_contact: str = Field(
        default="support@faka.local",
        description="How buyers reach support when their order's shop names no contact (or is not known yet)",
    )
    platform_name: str = Field(
        default="faka shop",
        description="Signs a buyer's message when the order's shop is not known here yet (a known shop's "
        "messages carry the shop's name)",
    )

    notification_routes: dict[str, list[list[str]]] = Field(
        default_factory=lambda: {k: [list(c) for c in v] for k, v in DEFAULT_ROUTES.items()},
        description="Per notice, its channel chains as JSON: every chain is sent, inside a chain the "
        'channels fail over in order, e.g. {"order_delivered": [["email", "aliyun_sms"], ["in_site"]]}. '
        "Notices left out keep their default route.",
    )
    shop_template_cache_seconds: float = Field(
        default=30,
        ge=0,
        description="How long a process keeps a shop's e-mail wording (or that it has none) before reading "
        "it again; a change through this process's API is seen at once",
    )
    channel_breaker_threshold: int = Field(default=5, ge=1, description="Failed notices that open a breaker")
    channel_breaker_reset_seconds: float = Field(
        default=30, gt=0, description="Open breaker → half-open after"
    )
    breaker_store: BreakerStore | None = Field(
        default=None,
        description="redis: every replica shares each channel's breaker; memory: per process; "
        "unset: redis when REDIS_URL is set",
    )
    channel_retry_attempts: int = Field(default=2, ge=1, description="Tries per channel before failing over")
    channel_retry_backoff: float = Field(default=0.2, ge=0)
    provider_timeout: float = Field(default=10, gt=0, description="Seconds for one SMS/Telegram/webhook call")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False
    smtp_timeout: float = 10
    mail_from: str = "faka shop <no-reply@faka.local>"

    aliyun_sms_base_url: str = "https://dysmsapi.aliyuncs.com"
    aliyun_sms_access_key_id: str | None = None
    aliyun_sms_access_key_secret: SecretStr | None = None
    aliyun_sms_sign_name: str = ""
    aliyun_sms_region: str = "cn-hangzhou"
    aliyun_sms_templates: dict[str, str] = Field(
        default_factory=dict, description='Notice → approved TemplateCode, e.g. {"order_delivered": "SMS_1"}'
    )

    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None

    telegram_base_url: str = "https://api.telegram.org"
    telegram_bot_token: SecretStr | None = None
    telegram_carries_keys: bool = Field(
        default=False,
        description="Whether a delivered notice on Telegram holds the keys (Telegram stores bot chats on its "
        "servers); false: it points to the order page and the e-mail instead",
    )
    telegram_link_secret: SecretStr | None = Field(
        default=None,
        description="HMAC secret of the order page's Telegram deep-link tokens (the gateway's "
        "TELEGRAM_LINK_SECRET); unset: buyers cannot link Telegram",
    )

    ticket_reply_domain: str | None = Field(
        default=None,
        description="The mail domain of tickets' reply addresses (ticket+<id>.<day>.<mac>@<domain>), whose "
        "MX is the inbound listener; unset: a ticket's answer is still e-mailed, replies by e-mail are off",
    )
    ticket_reply_secret: SecretStr | None = Field(
        default=None, description="HMAC secret of tickets' reply addresses (needed with TICKET_REPLY_DOMAIN)"
    )
    ticket_reply_days: int = Field(
        default=60, ge=1, description="Days a reply address keeps working after the e-mail that gave it"
    )
    inbound_smtp_host: str = Field(default="127.0.0.1", description="Where the inbound SMTP listener binds")
    inbound_smtp_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The inbound SMTP listener's port (buyers' replies to tickets); unset: no listener",
    )
    inbound_smtp_tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain the inbound listener offers STARTTLS with (needs "
        "INBOUND_SMTP_TLS_KEY_FILE); unset: no STARTTLS",
    )
    inbound_smtp_tls_key_file: Path | None = Field(
        default=None, description="PEM private key of INBOUND_SMTP_TLS_CERT_FILE"
    )
    inbound_smtp_require_tls: bool = Field(
        default=False,
        description="Refuse mail (530) until the sender has issued STARTTLS; false: TLS is offered, and a "
        "server that does not speak it still delivers",
    )
    inbound_smtp_per_sender_per_hour: int = Field(
        default=30,
        ge=1,
        description="Messages one sender address (MAIL FROM) may start in an hour, across replicas (Redis); "
        "more get 450 naming the limit",
    )
    inbound_smtp_per_peer_per_minute: int = Field(
        default=60,
        ge=1,
        description="Messages one connecting IP may start in a minute, across replicas (Redis); more get 450",
    )

    seller_email: str | None = None
    seller_phone: str | None = None
    seller_telegram_chat_id: str | None = None
    seller_webhook_url: str | None = Field(
        default=None,
        description="Where seller alerts are POSTed (signed); a public http(s) address, https in "
        "production; internal and metadata addresses are refused unless OUTBOUND_ALLOW_LIST names them",
    )
    seller_webhook_secret: SecretStr | None = None
    seller_locale: str = "zh-CN"
    webhook_attempts: int = Field(default=5, ge=1)
    webhook_backoff: float = Field(default=0.5, ge=0)
    webhook_max_backoff: float = Field(default=30, ge=0)
    outbound_allow_list: OutboundAllowList = ()

    @model_validator(mode="after")
    def _check_channels(self) -> Self:
        check_routes(self.notification_routes)
        if (self.inbound_smtp_tls_cert_file is None) != (self.inbound_smtp_tls_key_file is None):
            raise ValueError("INBOUND_SMTP_TLS_CERT_FILE and INBOUND_SMTP_TLS_KEY_FILE go together")
        if self.inbound_smtp_require_tls and self.inbound_smtp_tls_cert_file is None:
            raise ValueError("INBOUND_SMTP_REQUIRE_TLS needs INBOUND_SMTP_TLS_CERT_FILE and its key")
        if self.ticket_reply_domain and self.ticket_reply_secret is None:
            raise ValueError("TICKET_REPLY_DOMAIN needs TICKET_REPLY_SECRET (reply addresses are signed)")
        if self.seller_webhook_url and self.seller_webhook_secret is None:
            raise ValueError("SELLER_WEBHOOK_URL needs SELLER_WEBHOOK_SECRET (webhooks are always signed)")
        policy = self.outbound()
        for name in ("seller_webhook_url", "aliyun_sms_base_url", "twilio_base_url", "telegram_base_url"):
            url = getattr(self, name)
            if url:
                try:
                    policy.check_static(url, name.upper())
                except UnsafeURL as error:
                    raise ValueError(error.message) from error
        return self

    def outbound(self) -> OutboundPolicy:
        """Where provider and webhook calls may go (https only in production); the host names are
        resolved and checked again on every connection."""
        return OutboundPolicy.of(self.environment, self.outbound_allow_list)

    def optional_secrets(self) -> tuple[str, ...]:
        return ("telegram_link_secret", "seller_webhook_secret", "ticket_reply_secret")

    def routes(self) -> dict[str, list[list[str]]]:
        return {**{k: [list(c) for c in v] for k, v in DEFAULT_ROUTES.items()}, **self.notification_routes}
