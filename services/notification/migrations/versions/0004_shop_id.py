"""Shops: every notification row (buyer contacts, the notification log, in-site messages, webhook attempts,
linked Telegram chats) belongs to the shop of its order. Existing rows go to the default shop (`add_shop_id`
backfills them and leaves the column no default).

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from faka_common.db.migrations import add_shop_id

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
    add_shop_id(*SHOP_OWNED)
    for index, table in LISTED.items():
        op.create_index(index, table, ["shop_id", "created_at"])


def downgrade() -> None:
    for index, table in LISTED.items():
        op.drop_index(index, table_name=table)
    for table in SHOP_OWNED:
        op.drop_column(table, "shop_id")
