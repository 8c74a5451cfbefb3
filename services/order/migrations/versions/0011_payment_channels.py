"""A shop's payment channels: a provider the shop collects with on its own credentials (sealed with the
keyring: `key_id` names the key, `sealed` is nonce || ciphertext of the whole credentials; `shown` holds
only the fields that are no secret). A payment and a payment attempt record who collects the money: the
platform (every payment before this migration) or the shop.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLLECTED_BY = "collected_by IN ('platform', 'shop')"


def upgrade() -> None:
    op.create_table(
        "payment_channels",
        sa.Column("shop_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("shown", postgresql.JSONB, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    for table in ("payments", "payment_attempts"):
        op.add_column(table, sa.Column("collected_by", sa.Text, nullable=False, server_default="platform"))
        op.create_check_constraint(f"{table}_collected_by", table, COLLECTED_BY)


def downgrade() -> None:
    for table in ("payments", "payment_attempts"):
        op.drop_constraint(f"{table}_collected_by", table)
        op.drop_column(table, "collected_by")
    op.drop_table("payment_channels")
