"""Risk tables."""

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

metadata = MetaData()

decisions = Table(
    "risk_decisions",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("verdict", Text, nullable=False),
    Column("reasons", ARRAY(Text), nullable=False),
    Column("fired", ARRAY(Text), nullable=False, server_default="{}"),
    Column("rules_version", Integer),
    Column("platform_rules_version", Integer),
    Column("buyer_email", Text),
    Column("buyer_ip", Text),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

rule_sets = Table(
    "risk_rule_sets",
    metadata,
    Column("scope", PgUUID(as_uuid=True), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("changed_by", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

reviews = Table(
    "risk_reviews",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_no", Text, nullable=False),
    Column("product_title", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("buyer_email", Text, nullable=False),
    Column("reasons", ARRAY(Text), nullable=False),
    Column("fired", ARRAY(Text), nullable=False, server_default="{}"),
    Column("trailing_mean", BigInteger),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    Column("resolution_reason", Text),
    Column("device_id", Text),
)

paid_amounts = Table(
    "risk_paid_amounts",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=False),
)
