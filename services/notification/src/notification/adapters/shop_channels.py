"""A shop's own notification channels (migrations 0006, 0007), its SMTP password, SMS account secrets and
webhook secret sealed with the service's keyring (bound to the shop and to what the secret is for: a sealed
value copied to another shop's row, or to another column, does not open)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from faka_common.crypto import KeyRing, Sealed
from faka_common.db.resealing import SealedColumns, SealedTable
from faka_common.db.statements import mapping
from sqlalchemy import Column, DateTime, Integer, LargeBinary, Table, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.tables import metadata
from notification.domain.shop_channels import AliyunAccount, ShopChannels, ShopSmtp, TwilioAccount

shop_channels = Table(
    "shop_channels",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), primary_key=True),
    Column("from_name", Text),
    Column("from_address", Text),
    Column("reply_to", Text),
    Column("smtp_host", Text),
    Column("smtp_port", Integer),
    Column("smtp_security", Text),
    Column("smtp_username", Text),
    Column("smtp_password_key_id", Text),
    Column("smtp_password", LargeBinary),
    Column("alert_emails", ARRAY(Text), nullable=False, server_default="{}"),
    Column("webhook_url", Text),
    Column("webhook_secret_key_id", Text),
    Column("webhook_secret", LargeBinary),
    Column("aliyun_access_key_id", Text),
    Column("aliyun_secret_key_id", Text),
    Column("aliyun_secret", LargeBinary),
    Column("aliyun_sign_name", Text),
    Column("aliyun_templates", JSONB(none_as_null=True)),
    Column("twilio_account_sid", Text),
    Column("twilio_token_key_id", Text),
    Column("twilio_token", LargeBinary),
    Column("twilio_from", Text),
    Column("alert_telegram_chat", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def _context(what: str, shop_id: UUID) -> bytes:
    return f"notification:{what}:{shop_id}".encode()


def _sealed(what: str) -> SealedColumns:
    return SealedColumns(
        shop_channels.c[f"{what}_key_id"], shop_channels.c[what], lambda row: _context(what, row.shop_id)
    )


#: What a key rotation re-seals (faka_common.db.resealing): each shop's SMTP password, webhook secret and SMS
#: account secrets.
SEALED = SealedTable(
    shop_channels,
    key=[shop_channels.c.shop_id],
    values=[_sealed(what) for what in ("smtp_password", "webhook_secret", "aliyun_secret", "twilio_token")],
)


#: Read with every e-mail notice: built once, with the shop bound as a parameter.
_OF_SHOP = select(shop_channels).where(shop_channels.c.shop_id == bindparam("shop_id"))
_LOCKED = _OF_SHOP.with_for_update()


class ShopChannelRepository:
    def __init__(self, session: AsyncSession, keyring: KeyRing) -> None:
        self._session = session
        self._keyring = keyring

    def _seal(self, what: str, shop_id: UUID, secret: str | None) -> tuple[str | None, bytes | None]:
        if secret is None:
            return None, None
        sealed = self._keyring.seal(secret, _context(what, shop_id))
        return sealed.key_id, sealed.blob

    def _open(self, what: str, shop_id: UUID, key_id: str | None, blob: bytes | None) -> str | None:
        if key_id is None or blob is None:
            return None
        return self._keyring.open(Sealed(key_id, bytes(blob)), _context(what, shop_id))

    async def save(self, channels: ShopChannels) -> None:
        """The shop's settings as a whole, replacing what was there."""
        smtp = channels.smtp
        password_key_id, password = self._seal(
            "smtp_password", channels.shop_id, smtp.password if smtp else None
        )
        secret_key_id, secret = self._seal("webhook_secret", channels.shop_id, channels.webhook_secret)
        aliyun, twilio = channels.aliyun_sms, channels.twilio_sms
        aliyun_key_id, aliyun_secret = self._seal(
            "aliyun_secret", channels.shop_id, aliyun.access_key_secret if aliyun else None
        )
        twilio_key_id, twilio_token = self._seal(
            "twilio_token", channels.shop_id, twilio.auth_token if twilio else None
        )
        values: dict[str, Any] = {
            "from_name": channels.from_name,
            "from_address": channels.from_address,
            "reply_to": channels.reply_to,
            "smtp_host": smtp.host if smtp else None,
            "smtp_port": smtp.port if smtp else None,
            "smtp_security": smtp.security if smtp else None,
            "smtp_username": smtp.username if smtp else None,
            "smtp_password_key_id": password_key_id,
            "smtp_password": password,
            "alert_emails": list(channels.alert_emails),
            "webhook_url": channels.webhook_url,
            "webhook_secret_key_id": secret_key_id,
            "webhook_secret": secret,
            "aliyun_access_key_id": aliyun.access_key_id if aliyun else None,
            "aliyun_secret_key_id": aliyun_key_id,
            "aliyun_secret": aliyun_secret,
            "aliyun_sign_name": aliyun.sign_name if aliyun else None,
            "aliyun_templates": dict(aliyun.templates) if aliyun else None,
            "twilio_account_sid": twilio.account_sid if twilio else None,
            "twilio_token_key_id": twilio_key_id,
            "twilio_token": twilio_token,
            "twilio_from": twilio.from_number if twilio else None,
            "alert_telegram_chat": channels.alert_telegram_chat,
        }
        statement = insert(shop_channels).values(shop_id=channels.shop_id, **values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[shop_channels.c.shop_id], set_={**values, "updated_at": func.now()}
            )
        )

    async def get(self, shop_id: UUID, lock: bool = False) -> ShopChannels | None:
        """The shop's settings with their secrets opened; None when it set none. `lock`: for an update."""
        query = _LOCKED if lock else _OF_SHOP
        row = (await self._session.execute(query, {"shop_id": shop_id})).first()
        return None if row is None else self.opened(shop_id, mapping(row))

    def opened(self, shop_id: UUID, row: Mapping[str, Any]) -> ShopChannels:
        """The shop's settings from its row, by column name, with their secrets opened: the one conversion of
        `get`'s read and of the buyer's addressee read that carries them (BuyerContactRepository.addressee,
        which selects the columns tables.SHOP_CHANNEL_COLUMNS names)."""
        smtp = None
        if row["smtp_host"] is not None:
            password = self._open("smtp_password", shop_id, row["smtp_password_key_id"], row["smtp_password"])
            smtp = ShopSmtp(
                row["smtp_host"], row["smtp_port"], row["smtp_security"], row["smtp_username"], password
            )
        aliyun = None
        if row["aliyun_access_key_id"] is not None:
            secret = self._open("aliyun_secret", shop_id, row["aliyun_secret_key_id"], row["aliyun_secret"])
            aliyun = AliyunAccount(
                row["aliyun_access_key_id"], secret, row["aliyun_sign_name"], dict(row["aliyun_templates"])
            )
        twilio = None
        if row["twilio_account_sid"] is not None:
            token = self._open("twilio_token", shop_id, row["twilio_token_key_id"], row["twilio_token"])
            twilio = TwilioAccount(row["twilio_account_sid"], token, row["twilio_from"])
        return ShopChannels(
            shop_id,
            row["from_name"],
            row["from_address"],
            row["reply_to"],
            smtp,
            tuple(row["alert_emails"]),
            row["webhook_url"],
            self._open("webhook_secret", shop_id, row["webhook_secret_key_id"], row["webhook_secret"]),
            aliyun_sms=aliyun,
            twilio_sms=twilio,
            alert_telegram_chat=row["alert_telegram_chat"],
        )
