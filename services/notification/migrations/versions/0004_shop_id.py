"""Shops: every notification row (buyer contacts, the notification log, in-site messages, webhook attempts,
linked Telegram chats) belongs to the shop of its order. Existing rows go to the default shop; the server
default is dropped again, so a write that names no shop fails instead of landing in the default shop.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SHOP_OWNED = ("buyer_contacts", "notifications", "in_site_messages", "webhook_deliveries", "telegram_chats")
# the shop's own lists (buyers, the notification log, webhook attempts), newest first
LISTED = {
    "buyer_contacts_by_shop": "buyer_contacts",
    "notifications_by_shop": "notifications",
    "webhook_deliveries_by_shop": "webhook_deliveries",
}


def upgrade() -> None:
    for table in SHOP_OWNED:
        op.add_column(
            table,
            sa.Column(
                "shop_id",
                postgresql.UUID(as_uuid=True),
                nullable=False,
                server_default=sa.text(f"'{DEFAULT_SHOP_ID}'::uuid"),
            ),
        )
        op.alter_column(table, "shop_id", server_default=None)
    for index, table in LISTED.items():
        op.create_index(index, table, ["shop_id", "created_at"])


def downgrade() -> None:
    for index, table in LISTED.items():
        op.drop_index(index, table_name=table)
    for table in SHOP_OWNED:
        op.drop_column(table, "shop_id")
