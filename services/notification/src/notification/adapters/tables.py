"""Notification tables: the metadata every repository of the notification service writes through (the
other adapters that own a table, such as shops, shop channels, shop templates and ticket mail, add theirs to
it), the buyer contacts read model, notifications, in-site messages, the webhook delivery log and linked
Telegram chats, and the columns of a shop's own settings that the buyer's addressee read selects."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID

metadata = MetaData()

buyer_contacts = Table(
    "buyer_contacts",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_no", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("product_title", Text, nullable=False),
    Column("phone", Text),
    Column("quantity", Integer),
    Column("amount", BigInteger),
    Column("currency", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("provider_message_id", Text),
    Column("latency_ms", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("order_id", "template", "channel", name="notifications_once"),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="notifications_status"),
)

in_site_messages = Table(
    "in_site_messages",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("order_id", "template", name="in_site_messages_once"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),
    Column("outcome", Text, nullable=False),
    Column("error", Text),
    Column("latency_ms", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

telegram_chats = Table(
    "telegram_chats",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: The columns of a shop's own settings (adapters/shop_channels.py: all but its key and updated_at) that
#: `ShopChannelRepository.opened` turns into ShopChannels; the table is defined there, on this module's
#: metadata, so this module names them (a test holds the two together)
SHOP_CHANNEL_COLUMNS = (
    "from_name",
    "from_address",
    "reply_to",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_password_key_id",
    "smtp_password",
    "alert_emails",
    "webhook_url",
    "webhook_secret_key_id",
    "webhook_secret",
    "aliyun_access_key_id",
    "aliyun_secret_key_id",
    "aliyun_secret",
    "aliyun_sign_name",
    "aliyun_templates",
    "twilio_account_sid",
    "twilio_token_key_id",
    "twilio_token",
    "twilio_from",
    "alert_telegram_chat",
)
