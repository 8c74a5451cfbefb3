"""Order tables: the metadata every repository of the order service writes through (the other adapters that
own a table, such as releases, shops and payment channels, add theirs to it), and the column naming the shop a
row belongs to."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

metadata = MetaData()


def shop_id_column(primary_key: bool = False) -> Column[UUID]:
    """The shop a row belongs to (migration 0009): no default, so a write that does not name it fails."""
    return Column("shop_id", PgUUID(as_uuid=True), nullable=False, primary_key=primary_key)


orders = Table(
    "orders",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    shop_id_column(),
    Column("order_no", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_title", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("buyer_email", Text, nullable=False),
    Column("buyer_ip", Text),
    Column("locale", Text, nullable=False),
    Column("password_hash", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("paid_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("status_reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("refunded_amount", BigInteger, nullable=False, default=0),
    Column("reconciled_at", DateTime(timezone=True)),
    Column("discount", BigInteger, nullable=False, default=0),
    Column("coupon_code", Text),
    Column("delivery_type", Text, nullable=False, default="card_key"),
    Column("face_value", BigInteger),
    Column("buyer_fields", JSONB, nullable=False, default=dict),
    Column("buyer_phone", Text),
    Column("secret_version", Integer, nullable=False, default=0),
    Index("orders_expiry_sweep", "status", "expires_at"),
)
Index("orders_shop_created_id", orders.c.shop_id, orders.c.created_at.desc(), orders.c.id.desc())
Index("orders_shop_paid", orders.c.shop_id, orders.c.paid_at, postgresql_where=orders.c.paid_at.isnot(None))

payments = Table(
    "payments",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    shop_id_column(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("collected_by", Text, nullable=False, server_default="platform"),
    #: `<provider>:<account>` when the notification or the provider's answer named who paid
    Column("payer_account", Text),
    #: one index for both uniqueness and the console's search by trade number within a shop (0017)
    UniqueConstraint("shop_id", "trade_no", "provider", name="payments_trade_no"),
    Index("payments_order_id", "order_id"),
    Index("payments_received_at", "shop_id", "received_at"),
)

order_transitions = Table(
    "order_transitions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    shop_id_column(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("from_state", Text),
    Column("to_state", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("order_transitions_order_id", "order_id", "id"),
)

payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    Column("provider", Text, primary_key=True),
    shop_id_column(),
    Column("provider_ref", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("collected_by", Text, nullable=False, server_default="platform"),
)

payment_exceptions = Table(
    "payment_exceptions",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    shop_id_column(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("shop_id", "provider", "trade_no", name="payment_exceptions_provider_trade_no"),
    Index("payment_exceptions_received_at", "shop_id", "received_at"),
)

payment_checks = Table(
    "payment_checks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    shop_id_column(),
    Column("provider", Text, nullable=False),
    Column("order_no", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True)),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("refund_no", Text, nullable=False, unique=True),
    shop_id_column(),
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("provider_refund_id", Text),
    Column("error", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
)
Index("refunds_shop_requested", refunds.c.shop_id, refunds.c.requested_at)

auto_refunds = Table(
    "auto_refunds",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    shop_id_column(),
    Column("refund_no", Text, nullable=False, unique=True),
    Column("reason", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    shop_id_column(primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

order_price_tiers = Table(
    "order_price_tiers",
    metadata,
    shop_id_column(primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), primary_key=True),
    Column("min_quantity", Integer, primary_key=True),
    Column("unit_price", BigInteger, nullable=False),
)

coupons = Table(
    "coupons",
    metadata,
    shop_id_column(primary_key=True),
    Column("code", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("currency", Text),
    Column("product_id", PgUUID(as_uuid=True)),
    Column("category_id", PgUUID(as_uuid=True)),
    Column("usage_limit", Integer),
    Column("per_buyer_limit", Integer),
    Column("expires_at", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False, default=True),
    Column("used_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("coupons_shop_created", coupons.c.shop_id, coupons.c.created_at.desc())

coupon_redemptions = Table(
    "coupon_redemptions",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    shop_id_column(),
    Column("code", Text, nullable=False),
    Column("buyer_email", Text, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("redeemed_at", DateTime(timezone=True), nullable=False),
    #: Set when the order ended unpaid and its use was given back; cleared if a late payment takes it again.
    Column("released_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["shop_id", "code"], ["coupons.shop_id", "coupons.code"]),
)
