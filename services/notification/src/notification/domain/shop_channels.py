"""A shop's own notification channels: the sender of its buyers' e-mails, its own SMTP server, and where
its seller alerts go. Whatever a shop leaves unset, the platform's channel stands in."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from typing import Literal
from uuid import UUID

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import DomainError

SmtpSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class ShopSmtp:
    """The shop's SMTP server; the password is plaintext only in memory (sealed at rest)."""

    host: str
    port: int
    security: SmtpSecurity
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def same_server(self, other: ShopSmtp | None) -> bool:
        """Whether `other` is this server, security and login (then a stored password may stay with it: it
        never follows a login to another host, nor onto a connection without TLS)."""
        return other is not None and (self.host.lower(), self.port, self.security, self.username) == (
            other.host.lower(),
            other.port,
            other.security,
            other.username,
        )


@dataclass(frozen=True)
class ShopChannels:
    """A shop's channel settings as stored (secrets opened)."""

    shop_id: UUID
    from_name: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    smtp: ShopSmtp | None = None
    alert_emails: tuple[str, ...] = ()
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)


class MissingSecret(DomainError):
    """A setting needs a secret the request left out and none is stored for it."""

    status_code = 422
    code = "missing_secret"


def keep_secrets(new: ShopChannels, stored: ShopChannels | None) -> ShopChannels:
    """`new` with each secret it leaves out taken from `stored`: the SMTP password while the server, its
    security and the login stay the same (a password never follows a changed host), the webhook secret
    while there is a webhook. Raises MissingSecret when one is needed and none is there."""
    smtp = new.smtp
    if smtp is not None and smtp.username is not None and smtp.password is None:
        old = stored.smtp if stored is not None else None
        if old is None or old.password is None or not smtp.same_server(old):
            raise MissingSecret("smtp.password is needed: no password is stored for this server and login")
        smtp = ShopSmtp(smtp.host, smtp.port, smtp.security, smtp.username, old.password)
    secret = new.webhook_secret
    if new.webhook_url is not None and secret is None:
        secret = stored.webhook_secret if stored is not None else None
        if secret is None:
            raise MissingSecret("webhook_secret is needed: webhooks are always signed and none is stored")
    return ShopChannels(
        new.shop_id,
        new.from_name,
        new.from_address,
        new.reply_to,
        smtp,
        new.alert_emails,
        new.webhook_url,
        secret if new.webhook_url is not None else None,
    )


@dataclass(frozen=True)
class MailSender:
    """Whom a shop's e-mail comes from and through which server (None: the platform's)."""

    from_header: str
    reply_to: str | None = None
    smtp: ShopSmtp | None = field(default=None, repr=False)


def mail_sender(channels: ShopChannels | None, shop_name: str | None, mail_from: str) -> MailSender | None:
    """A shop's buyer e-mail: From its sender name (else its name) at its address (else MAIL_FROM's), with
    its reply-to, through its own SMTP server when it has one (None: no address to send from, the mailer's
    own From)."""
    platform_name, platform_address = parseaddr(mail_from)
    own = channels or ShopChannels(DEFAULT_SHOP_ID)
    name = own.from_name or shop_name or platform_name
    address = own.from_address or platform_address
    if not address:
        return None
    return MailSender(formataddr((name, address)) if name else address, own.reply_to, own.smtp)
