"""The platform's fee on a shop's sales: a rate in basis points (1/100 of a percent) per shop; null takes the
platform's default (the gateway's DEFAULT_FEE_RATE_BPS).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shops", sa.Column("fee_rate_bps", sa.Integer))
    op.create_check_constraint("shops_fee_rate", "shops", "fee_rate_bps BETWEEN 0 AND 10000")


def downgrade() -> None:
    op.drop_constraint("shops_fee_rate", "shops")
    op.drop_column("shops", "fee_rate_bps")
