"""A shop's own notification channels as its owner sets them (the whole settings at once): one model,
enforced by the notification service, checked and documented by the gateway's admin API on the way in."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from faka_common.fields import Line, NonBlankLine

#: An e-mail address as a header may carry it: no spaces, quotes, commas or angle brackets.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$"
EmailAddress = Annotated[
    str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254), Field(examples=["sales@shop.example"])
]
#: A host name or an IPv4 address (the outgoing-URL guard then checks where it resolves).
HOST_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
Secret = Annotated[Line, StringConstraints(min_length=1, max_length=500)]
SmtpSecurity = Literal["starttls", "tls", "none"]
MAX_ALERT_EMAILS = 10
#: The buyer notices a shop's own SMS account may send (an order's link holds a token: e-mail only).
SmsNotice = Literal["order_paid", "order_delivered", "order_delayed", "order_refunded"]
#: The buyer e-mails a shop may word its own way (notification's WORDABLE holds each one's placeholders).
WordableNotice = Literal[
    "order_delivered", "key_replaced", "order_link", "ticket_reply", "order_delayed", "order_refunded"
]
#: The languages a shop words them in.
WordingLanguage = Literal["zh-CN", "en"]
#: A Telegram chat: its numeric id (a group's or channel's is negative) or a public @channel name.
TELEGRAM_CHAT_PATTERN = r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShopSmtpServer(Body):
    host: str = Field(
        pattern=HOST_PATTERN,
        max_length=253,
        description="The shop's SMTP server: a public host (internal and metadata addresses are refused "
        "unless OUTBOUND_ALLOW_LIST names them)",
        examples=["smtp.shop.example"],
    )
    port: int = Field(default=587, ge=1, le=65535)
    security: SmtpSecurity = Field(
        default="starttls", description="starttls (upgrade on 587), tls (TLS from the start, 465) or none"
    )
    username: Annotated[Line, StringConstraints(min_length=1, max_length=254)] | None = None
    password: Secret | None = Field(
        default=None,
        description="Sealed at rest, never shown. Left out: the stored one is kept when host, port, "
        "security and username are unchanged (otherwise a username needs its password)",
    )

    @model_validator(mode="after")
    def _password_goes_with_a_username(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("smtp.password needs smtp.username")
        return self


class ShopAliyunSmsAccount(Body):
    """The shop's own Aliyun SMS account (the endpoint and region are the platform's)."""

    access_key_id: str = Field(
        pattern=r"^[A-Za-z0-9]{8,64}$", description="The AccessKey ID", examples=["LTAI5tExampleKeyId"]
    )
    access_key_secret: Secret | None = Field(
        default=None,
        description="The AccessKey secret; sealed at rest, never shown. Left out: the stored one is kept "
        "while access_key_id is unchanged",
    )
    sign_name: str = Field(
        pattern=r"^[A-Za-z0-9\u3400-\u9fff]{2,12}$",
        description="The approved sign name (签名) the buyer sees: 2 to 12 Chinese characters, letters "
        "or digits, without the brackets",
        examples=["游戏卡店"],
    )
    templates: dict[SmsNotice, Annotated[str, StringConstraints(pattern=r"^SMS_[0-9]{1,32}$")]] = Field(
        min_length=1,
        description="The approved TemplateCode per notice (variables order_no, product, content); a "
        "notice without one goes through the platform's account",
        examples=[{"order_delivered": "SMS_154950909"}],
    )


class ShopTwilioSmsAccount(Body):
    """The shop's own Twilio account (the endpoint is the platform's)."""

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="The account SID (AC + 32 hex)")
    auth_token: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{16,128}$")] | None = Field(
        default=None,
        description="The auth token; sealed at rest, never shown. Left out: the stored one is kept while "
        "account_sid is unchanged",
    )
    from_number: str = Field(
        pattern=r"^(\+[1-9][0-9]{6,14}|[A-Za-z][A-Za-z0-9 ]{0,10})$",
        description="The number (E.164) or alphanumeric sender ID the shop's SMS come from",
        examples=["+15005550006"],
    )


class ShopChannelSettings(Body):
    """Where the shop's buyer e-mails and SMS come from and where its seller alerts go. Every field left out
    is unset: the platform's channel stands in (its SMTP server, MAIL_FROM's address with the shop's name,
    its SMS accounts)."""

    from_name: Annotated[NonBlankLine, StringConstraints(max_length=100)] | None = Field(
        default=None, description="The sender's display name; unset: the shop's name"
    )
    from_address: EmailAddress | None = Field(
        default=None, description="The sender's address; unset: the platform's MAIL_FROM address"
    )
    reply_to: EmailAddress | None = None
    smtp: ShopSmtpServer | None = Field(
        default=None, description="The shop's own SMTP server; unset (or failing): the platform's"
    )
    alert_emails: list[EmailAddress] = Field(
        default_factory=list,
        max_length=MAX_ALERT_EMAILS,
        description="Who gets the shop's seller alerts by e-mail",
    )
    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        max_length=500,
        description="Where the shop's seller alerts are POSTed (signed); a public http(s) address, https "
        "in production; internal and metadata addresses are refused unless OUTBOUND_ALLOW_LIST names them",
    )
    webhook_secret: Secret | None = Field(
        default=None,
        description="Signs the webhook (X-Faka-Signature); sealed at rest, never shown. Left out: the "
        "stored one is kept (a webhook_url needs one)",
    )
    aliyun_sms: ShopAliyunSmsAccount | None = Field(
        default=None,
        description="The shop's own Aliyun SMS account for its buyers' SMS; unset (or its provider down): "
        "the platform's",
    )
    twilio_sms: ShopTwilioSmsAccount | None = Field(
        default=None,
        description="The shop's own Twilio account for its buyers' SMS; unset (or its provider down): the "
        "platform's",
    )
    alert_telegram_chat: str | None = Field(
        default=None,
        pattern=TELEGRAM_CHAT_PATTERN,
        description="The Telegram chat the platform's bot sends the shop's seller alerts to (a numeric "
        "chat id, or an @channel the bot may post in)",
        examples=["-1001234567890", "@cards_alerts"],
    )

    @model_validator(mode="after")
    def _secret_goes_with_a_url(self) -> Self:
        if self.webhook_secret is not None and self.webhook_url is None:
            raise ValueError("webhook_secret needs webhook_url")
        return self


class ShopSmtpServerView(BaseModel):
    host: str
    port: int
    security: SmtpSecurity
    username: str | None


class ShopAliyunSmsView(BaseModel):
    access_key_id: str
    sign_name: str
    templates: dict[str, str]


class ShopTwilioSmsView(BaseModel):
    account_sid: str
    from_number: str


class ShopChannelsView(BaseModel):
    """The settings as stored, secrets only as whether one is set; every field unset for a shop that set
    none (the platform's channels stand in)."""

    shop_id: UUID
    from_name: str | None
    from_address: str | None
    reply_to: str | None
    smtp: ShopSmtpServerView | None
    smtp_password_set: bool
    alert_emails: list[str]
    webhook_url: str | None
    webhook_secret_set: bool
    # defaults: a notification service older than its SMS accounts answers without them
    aliyun_sms: ShopAliyunSmsView | None = None
    aliyun_sms_secret_set: bool = False
    twilio_sms: ShopTwilioSmsView | None = None
    twilio_sms_token_set: bool = False
    alert_telegram_chat: str | None = None


#: A shop's wording of one buyer e-mail (Jinja, checked by the notification service: placeholders, syntax,
#: limits of 200 and 10,000 characters); well over the limits is refused here already.
class ShopWording(Body):
    # not blank, and within notification's limits (MAX_SUBJECT, MAX_BODY): what the schema calls valid is
    subject: str = Field(
        max_length=200, pattern=r"\S", description="The subject's template", examples=["{{ order_no }}"]
    )
    body: str = Field(
        max_length=10_000, pattern=r"\S", description="The text's template, with the notice's marker if any"
    )


class ShopWordingChange(ShopWording):
    changed_by: str = Field(min_length=1, max_length=254, description="Who changed it (the console's person)")
