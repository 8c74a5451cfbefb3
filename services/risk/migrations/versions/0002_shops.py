"""Shops: every risk decision names the shop of the order it is about.

Existing decisions belong to the default shop (the column is added with it as a server default, which is
then dropped, so a write that forgets the shop fails instead of filing the row under the default shop).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "risk_decisions",
        sa.Column(
            "shop_id",
            postgresql.UUID(as_uuid=True),
            nullable=False,
            server_default=sa.text(f"'{DEFAULT_SHOP_ID}'::uuid"),
        ),
    )
    op.alter_column("risk_decisions", "shop_id", server_default=None)
    op.create_index("risk_decisions_shop", "risk_decisions", ["shop_id", "decided_at"])


def downgrade() -> None:
    op.drop_index("risk_decisions_shop", "risk_decisions")
    op.drop_column("risk_decisions", "shop_id")
