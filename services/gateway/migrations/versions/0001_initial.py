"""Messaging tables (the gateway owns no business state).

Revision ID: 0001
Revises:
"""

from alembic import op
from faka_common.db.migrations import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
