"""A shop's own notification channels: the sender of its buyers' e-mails, its own SMTP server, its own SMS
accounts, and where its seller alerts go. Whatever a shop leaves unset, the platform's channel stands in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.utils import formataddr, parseaddr
from functools import lru_cache
from typing import Literal
from uuid import UUID

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import DomainError

from notification.domain.model import ALIYUN_SMS, TWILIO_SMS

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


class MissingSecret(DomainError):
    """A setting needs a secret the request left out and none is stored for it."""

    status_code = 422
    code = "missing_secret"


def _kept(secret: str | None, stored: str | None, same: bool, needed: str) -> str:
    """`secret`, else the stored one while it belongs to the same server or account."""
    if secret is not None:
        return secret
    if stored is None or not same:
        raise MissingSecret(needed)
    return stored


@dataclass(frozen=True)
class AliyunAccount:
    """An Aliyun SMS account (a shop's own, or the platform's): its AccessKey (the secret plaintext only in
    memory), its sign name and its approved TemplateCode per notice. The endpoint and region are settings."""

    access_key_id: str
    access_key_secret: str | None = field(default=None, repr=False)
    sign_name: str = ""
    templates: Mapping[str, str] = field(default_factory=dict, hash=False)

    def keeping(self, stored: AliyunAccount | None) -> AliyunAccount:
        """This account, its secret left out taken from `stored` while it is the same access key id."""
        same = stored is not None and stored.access_key_id == self.access_key_id
        needed = "aliyun_sms.access_key_secret is needed: none is stored for this access_key_id"
        old = stored.access_key_secret if stored else None
        return replace(self, access_key_secret=_kept(self.access_key_secret, old, same, needed))


@dataclass(frozen=True)
class TwilioAccount:
    """A Twilio account (a shop's own, or the platform's; the auth token plaintext only in memory) and the
    number it sends from."""

    account_sid: str
    auth_token: str | None = field(default=None, repr=False)
    from_number: str = ""

    def keeping(self, stored: TwilioAccount | None) -> TwilioAccount:
        """This account, its auth token left out taken from `stored` while it is the same account SID."""
        same = stored is not None and stored.account_sid == self.account_sid
        needed = "twilio_sms.auth_token is needed: none is stored for this account_sid"
        old = stored.auth_token if stored else None
        return replace(self, auth_token=_kept(self.auth_token, old, same, needed))


@dataclass(frozen=True)
class ShopSms:
    """The shop's own SMS accounts a buyer's notice may go through (None: the platform's)."""

    aliyun: AliyunAccount | None = None
    twilio: TwilioAccount | None = None

    def sends(self, channel: str, template: str) -> bool:
        """Whether the shop's own account on `channel` sends `template` (Aliyun: only approved templates)."""
        if channel == ALIYUN_SMS:
            return self.aliyun is not None and template in self.aliyun.templates
        return channel == TWILIO_SMS and self.twilio is not None


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
    aliyun_sms: AliyunAccount | None = None
    twilio_sms: TwilioAccount | None = None
    alert_telegram_chat: str | None = None

    @property
    def sms(self) -> ShopSms | None:
        """The shop's own SMS accounts, None when it has none."""
        if self.aliyun_sms is None and self.twilio_sms is None:
            return None
        return ShopSms(self.aliyun_sms, self.twilio_sms)


def keep_secrets(new: ShopChannels, stored: ShopChannels | None) -> ShopChannels:
    """`new` with each secret it leaves out taken from `stored`: the SMTP password while the server, its
    security and the login stay the same (a password never follows a changed host), an SMS account's secret
    while the account (Aliyun AccessKey id, Twilio account SID) stays the same, the webhook secret while
    there is a webhook. Raises MissingSecret when one is needed and none is there."""
    old = stored or ShopChannels(new.shop_id)
    smtp = new.smtp
    if smtp is not None and smtp.username is not None:
        password = _kept(
            smtp.password,
            old.smtp.password if old.smtp else None,
            smtp.same_server(old.smtp),
            "smtp.password is needed: no password is stored for this server and login",
        )
        smtp = replace(smtp, password=password)
    aliyun = new.aliyun_sms.keeping(old.aliyun_sms) if new.aliyun_sms else None
    twilio = new.twilio_sms.keeping(old.twilio_sms) if new.twilio_sms else None
    webhook_secret = None
    if new.webhook_url is not None:
        webhook_secret = _kept(
            new.webhook_secret,
            old.webhook_secret,
            True,
            "webhook_secret is needed: webhooks are always signed and none is stored",
        )
    return replace(new, smtp=smtp, aliyun_sms=aliyun, twilio_sms=twilio, webhook_secret=webhook_secret)


@dataclass(frozen=True)
class MailSender:
    """Whom a shop's e-mail comes from and through which server (None: the platform's)."""

    from_header: str
    reply_to: str | None = None
    smtp: ShopSmtp | None = field(default=None, repr=False)


@lru_cache(maxsize=64)
def _mailbox(header: str) -> tuple[str, str]:
    """The display name and address of a From value. MAIL_FROM is the same for every e-mail, and the
    stdlib's parser (pure Python) took 1.3 % of the notification service's CPU parsing it each time
    (a CPU profile at 27.6 orders/s)."""
    return parseaddr(header)


def mail_sender(channels: ShopChannels | None, shop_name: str | None, mail_from: str) -> MailSender | None:
    """A shop's buyer e-mail: From its sender name (else its name) at its address (else MAIL_FROM's), with
    its reply-to, through its own SMTP server when it has one (None: no address to send from, the mailer's
    own From)."""
    platform_name, platform_address = _mailbox(mail_from)
    own = channels or ShopChannels(DEFAULT_SHOP_ID)
    name = own.from_name or shop_name or platform_name
    address = own.from_address or platform_address
    if not address:
        return None
    return MailSender(formataddr((name, address)) if name else address, own.reply_to, own.smtp)
