"""Supplier accountability: a claim made from a confirmed key replacement is unique per replacement (a
redelivered KeyReplaced never claims twice); a ledger of deposits and claim deductions per supplier
(entries, never an updated total); a supplier paused by its claim rate until an operator resumes it; the
shop's demotion and pause thresholds.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("supplier_claims", sa.Column("replacement_claim_id", UUID(as_uuid=True), unique=True))
    op.add_column("supplier_claims", sa.Column("batch_id", UUID(as_uuid=True)))
    op.add_column("suppliers", sa.Column("paused_at", TS))
    op.add_column("suppliers", sa.Column("paused_reason", sa.Text))
    op.add_column("suppliers", sa.Column("resumed_at", TS))
    op.create_table(
        "supplier_ledger",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("supplier_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("claim_id", UUID(as_uuid=True), unique=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('deposit', 'claim')", name="supplier_ledger_kind"),
        sa.CheckConstraint(
            "(kind = 'deposit' AND amount > 0) OR (kind = 'claim' AND amount <= 0)",
            name="supplier_ledger_sign",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id", "supplier_id"],
            ["suppliers.shop_id", "suppliers.id"],
            name="supplier_ledger_shop_supplier",
        ),
    )
    op.create_index("supplier_ledger_supplier", "supplier_ledger", ["shop_id", "supplier_id", "created_at"])
    op.create_table(
        "supplier_policies",
        sa.Column("shop_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("window_minutes", sa.Integer, nullable=False),
        sa.Column("min_sample", sa.Integer, nullable=False),
        sa.Column("demote_claim_rate", sa.Float, nullable=False),
        sa.Column("pause_claim_rate", sa.Float, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("supplier_policies")
    op.drop_table("supplier_ledger")
    for column in ("resumed_at", "paused_reason", "paused_at"):
        op.drop_column("suppliers", column)
    op.drop_column("supplier_claims", "batch_id")
    op.drop_column("supplier_claims", "replacement_claim_id")
