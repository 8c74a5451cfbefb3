"""Who paid: a payment keeps the payer its notification or the provider's answer named (so a held order's
release announces it, as the payment's own notification would have), and the sandbox's books keep the payer
of each trade (so its query answers with it, and a reconciled sandbox payment meets the risk blocklists as
the other providers' do). Both empty where nothing named one.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("payer_account", sa.Text, nullable=True))
    op.add_column("sandbox_trades", sa.Column("payer", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("sandbox_trades", "payer")
    op.drop_column("payments", "payer_account")
