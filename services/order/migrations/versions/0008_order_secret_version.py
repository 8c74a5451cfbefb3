"""The order's secret version, bound into its access tokens; a rotation raises it and revokes them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("secret_version", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("orders", "secret_version")
