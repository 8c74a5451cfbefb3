"""Decisions by the shop and the buyer's e-mail (case-folded): whether a buyer paid in the shop before.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("risk_decisions_buyer", "risk_decisions", ["shop_id", sa.text("lower(buyer_email)")])


def downgrade() -> None:
    op.drop_index("risk_decisions_buyer", "risk_decisions")
