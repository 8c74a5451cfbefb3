"""Rule sets (a version per change, per shop and the platform's), the review queue, the paid amounts the
trailing means are taken from, and what a decision used and was about.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_rule_sets",
        sa.Column("scope", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", postgresql.JSONB, nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    for name, kind in (
        ("rules_version", sa.Integer),
        ("platform_rules_version", sa.Integer),
        ("buyer_email", sa.Text),
        ("buyer_ip", sa.Text),
    ):
        op.add_column("risk_decisions", sa.Column(name, kind, nullable=True))
    op.add_column(
        "risk_decisions",
        sa.Column("fired", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    op.create_table(
        "risk_reviews",
        sa.Column("order_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("order_no", sa.Text, nullable=False),
        sa.Column("product_title", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("buyer_email", sa.Text, nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text, nullable=True),
        sa.Column("resolution_reason", sa.Text, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'rejected', 'expired')", name="risk_review_status"
        ),
    )
    op.create_index("risk_reviews_shop", "risk_reviews", ["shop_id", "status", "created_at"])
    op.create_index(
        "risk_reviews_due", "risk_reviews", ["expires_at"], postgresql_where=sa.text("status = 'open'")
    )
    op.create_table(
        "risk_paid_amounts",
        sa.Column("order_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("product_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("risk_paid_amounts_product", "risk_paid_amounts", ["product_id", sa.text("paid_at DESC")])


def downgrade() -> None:
    op.drop_table("risk_paid_amounts")
    op.drop_table("risk_reviews")
    for name in ("fired", "buyer_ip", "buyer_email", "platform_rules_version", "rules_version"):
        op.drop_column("risk_decisions", name)
    op.drop_table("risk_rule_sets")
