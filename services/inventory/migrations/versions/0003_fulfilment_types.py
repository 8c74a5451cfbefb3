"""Manual and recharge products: no keys held here (an operator or a supplier fulfils them), and a
recharge's optional face value.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("face_value", sa.BigInteger))
    op.create_check_constraint(
        "products_face_value_positive", "products", "face_value IS NULL OR face_value > 0"
    )
    op.drop_constraint("products_delivery_type", "products")
    op.create_check_constraint(
        "products_delivery_type",
        "products",
        "delivery_type IN ('card_key', 'loop_key', 'manual', 'recharge')",
    )


def downgrade() -> None:
    op.drop_constraint("products_delivery_type", "products")
    op.create_check_constraint(
        "products_delivery_type", "products", "delivery_type IN ('card_key', 'loop_key')"
    )
    op.drop_constraint("products_face_value_positive", "products")
    op.drop_column("products", "face_value")
