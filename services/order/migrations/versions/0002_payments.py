"""Payment attempts, payment exceptions (mismatched amounts), the reconciliation queue, the sandbox
provider's books, refunds.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.add_column("orders", sa.Column("refunded_amount", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("reconciled_at", sa.DateTime(timezone=True)))
    op.create_table(
        "payment_attempts",
        sa.Column("order_id", UUID, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("provider_ref", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "provider"),
    )
    op.create_table(
        "payment_exceptions",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("order_id", UUID, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("trade_no", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("provider", "trade_no", name="payment_exceptions_provider_trade_no"),
    )
    op.create_table(
        "payment_checks",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("order_no", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "payment_checks_open", "payment_checks", ["id"], postgresql_where=sa.text("done_at IS NULL")
    )
    op.create_table(
        "sandbox_trades",
        sa.Column("trade_no", sa.Text, primary_key=True),
        sa.Column("order_no", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("refunded", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sandbox_trades_order_no", "sandbox_trades", ["order_no"])
    op.create_table(
        "refunds",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("refund_no", sa.Text, nullable=False, unique=True),
        sa.Column("order_id", UUID, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("trade_no", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("provider_refund_id", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("amount > 0", name="refunds_amount_positive"),
    )
    op.create_index("refunds_order_id", "refunds", ["order_id"])
    op.create_index("payments_received_at", "payments", ["received_at"])


def downgrade() -> None:
    op.drop_index("payments_received_at", "payments")
    op.drop_table("refunds")
    op.drop_table("sandbox_trades")
    op.drop_table("payment_checks")
    op.drop_table("payment_exceptions")
    op.drop_table("payment_attempts")
    op.drop_column("orders", "reconciled_at")
    op.drop_column("orders", "refunded_amount")
