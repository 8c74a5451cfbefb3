"""Messaging tables, shops and their domains, and the default shop, announced.

The default shop is the one an installation's data belonged to before it hosted several shops (every
service's migration files its rows under DEFAULT_SHOP_ID); its ShopChanged goes through the outbox like
any change, so every service's read model learns of it. The event is written out literally (ShopChanged
version 1), so this migration does the same whatever the contract becomes.

Revision ID: 0001
Revises:
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.migrations import create_messaging_tables
from sqlalchemy.dialects import postgresql
from uuid6 import uuid7

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DEFAULT_SHOP = {
    "slug": "default",
    "name": "Default shop",
    "status": "active",
    "currency": "CNY",
    "languages": ["zh-CN", "en"],
    "contact": "",
}


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "shops",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("slug", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("languages", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('pending', 'active', 'suspended', 'closed')", name="shops_status"),
    )
    op.create_table(
        "shop_domains",
        sa.Column("host", sa.Text, primary_key=True),
        sa.Column("shop_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("shops.id"), nullable=False),
        sa.CheckConstraint("host = lower(host)", name="shop_domains_lower_case"),
    )
    op.create_index("shop_domains_shop", "shop_domains", ["shop_id"])

    op.execute(
        sa.text(
            "INSERT INTO shops (id, slug, name, status, currency, languages, contact) "
            "VALUES (:id, :slug, :name, :status, :currency, :languages, :contact)"
        ).bindparams(
            sa.bindparam("id", DEFAULT_SHOP_ID, type_=postgresql.UUID(as_uuid=True)),
            sa.bindparam("languages", DEFAULT_SHOP["languages"], type_=postgresql.ARRAY(sa.Text)),
            **{k: v for k, v in DEFAULT_SHOP.items() if k != "languages"},
        )
    )
    event_id = uuid7()
    envelope = {
        "event_id": str(event_id),
        "type": "ShopChanged",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "merchant",
        "payload": {"shop_id": str(DEFAULT_SHOP_ID), **DEFAULT_SHOP, "domains": []},
    }
    op.execute(
        sa.text(
            "INSERT INTO outbox (event_id, topic, key, type, value) "
            "VALUES (:event_id, 'merchant.events', :key, 'ShopChanged', :value)"
        ).bindparams(
            sa.bindparam("event_id", event_id, type_=postgresql.UUID(as_uuid=True)),
            sa.bindparam("key", str(DEFAULT_SHOP_ID)),
            sa.bindparam("value", json.dumps(envelope).encode(), type_=sa.LargeBinary),
        )
    )


def downgrade() -> None:
    op.drop_table("shop_domains")
    op.drop_table("shops")
    op.drop_table("inbox")
    op.drop_table("outbox")
