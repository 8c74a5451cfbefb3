"""The buyer's optional phone number, given at checkout next to the e-mail.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("buyer_phone", sa.Text))


def downgrade() -> None:
    op.drop_column("orders", "buyer_phone")
