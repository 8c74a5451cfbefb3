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


class ShopChannelSettings(Body):
    """Where the shop's buyer e-mails come from and where its seller alerts go. Every field left out is
    unset: the platform's channel stands in (its SMTP server, MAIL_FROM's address with the shop's name)."""

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
