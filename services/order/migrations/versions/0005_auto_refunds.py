"""Automatic refunds of paid orders that found no stock (the late-payment policy), and the sandbox's
refund numbers so a retried refund is deduplicated like a real provider does.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "auto_refunds",
        sa.Column("order_id", UUID, sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("refund_no", sa.Text, nullable=False, unique=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'succeeded', 'failed')", name="auto_refunds_state"),
    )
    op.execute("CREATE INDEX auto_refunds_due ON auto_refunds (next_attempt_at) WHERE state = 'pending'")
    op.create_table(
        "sandbox_refunds",
        sa.Column("refund_no", sa.Text, primary_key=True),
        sa.Column("trade_no", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sandbox_refunds")
    op.execute("DROP INDEX IF EXISTS auto_refunds_due")
    op.drop_table("auto_refunds")
