"""SKUs: a product may be a variant of a main product (its own price, stock and keys, listed under the main
product in the storefront).

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


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("variant_of", postgresql.UUID(as_uuid=True), sa.ForeignKey("products.id"), nullable=True),
    )
    op.add_column("products", sa.Column("variant_label", sa.Text, nullable=True))
    op.create_check_constraint(
        "products_variant_labelled", "products", "variant_of IS NULL OR variant_label IS NOT NULL"
    )
    op.create_check_constraint("products_variant_not_itself", "products", "variant_of IS DISTINCT FROM id")
    op.execute("CREATE INDEX products_variants ON products (variant_of) WHERE variant_of IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS products_variants")
    op.drop_constraint("products_variant_not_itself", "products")
    op.drop_constraint("products_variant_labelled", "products")
    op.drop_column("products", "variant_label")
    op.drop_column("products", "variant_of")
