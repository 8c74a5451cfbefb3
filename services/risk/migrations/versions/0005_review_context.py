"""What a reviewer is shown beside the reasons: the rules that fired and the product's trailing mean the
amount was compared with (rounded minor units; none when no amount rule looked).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("risk_reviews", sa.Column("fired", ARRAY(sa.Text), nullable=False, server_default="{}"))
    op.add_column("risk_reviews", sa.Column("trailing_mean", sa.BigInteger))


def downgrade() -> None:
    op.drop_column("risk_reviews", "trailing_mean")
    op.drop_column("risk_reviews", "fired")
