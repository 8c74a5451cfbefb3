"""Messaging tables and risk decisions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from faka_common.db.migrations import create_messaging_tables
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "risk_decisions",
        sa.Column("order_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("risk_decisions")
    op.drop_table("inbox")
    op.drop_table("outbox")
