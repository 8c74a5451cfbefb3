"""The device id the checkout sent (none for an order placed without one), kept on its review so a reviewer
sees which browser placed it (several held orders from one device are one buyer, whatever their e-mails).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("risk_reviews", sa.Column("device_id", sa.Text))


def downgrade() -> None:
    op.drop_column("risk_reviews", "device_id")
