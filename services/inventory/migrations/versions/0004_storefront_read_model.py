"""The storefront read model: a product's row version (orders the Redis catalog writes) and whether the
storefront hides it while sold out.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("hide_when_sold_out", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.add_column("products", sa.Column("version", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("products", "version")
    op.drop_column("products", "hide_when_sold_out")
