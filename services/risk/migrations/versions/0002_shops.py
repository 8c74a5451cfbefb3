"""Shops: every risk decision names the shop of the order it is about.

Existing decisions belong to the default shop; `add_shop_id` backfills them and leaves the column no
default.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from faka_common.db.migrations import add_shop_id

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_shop_id("risk_decisions")
    op.create_index("risk_decisions_shop", "risk_decisions", ["shop_id", "decided_at"])


def downgrade() -> None:
    op.drop_index("risk_decisions_shop", "risk_decisions")
    op.drop_column("risk_decisions", "shop_id")
