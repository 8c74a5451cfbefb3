"""After-sales replacement of delivered keys: each product's policy (window after delivery, replacements per
order, evidence required), the replaced keys (one row per voided key: its primary key makes a key
replaceable once), and per import batch how many of its keys buyers reported invalid.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "products", sa.Column("replacement_window_hours", sa.Integer, nullable=False, server_default="24")
    )
    op.add_column(
        "products", sa.Column("replacements_per_order", sa.Integer, nullable=False, server_default="1")
    )
    op.add_column(
        "products",
        sa.Column("replacement_evidence_required", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "key_batches", sa.Column("reported_invalid", sa.Integer, nullable=False, server_default="0")
    )
    op.create_table(
        "key_replacements",
        sa.Column("voided_key_id", UUID(as_uuid=True), sa.ForeignKey("card_keys.id"), primary_key=True),
        sa.Column("claim_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("order_id", UUID(as_uuid=True), nullable=False),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("product_id", UUID(as_uuid=True), nullable=False),
        sa.Column("key_id", UUID(as_uuid=True), sa.ForeignKey("card_keys.id"), nullable=False, unique=True),
        sa.Column("batch_id", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("key_replacements_order", "key_replacements", ["order_id"])


def downgrade() -> None:
    op.drop_table("key_replacements")
    op.drop_column("key_batches", "reported_invalid")
    for column in ("replacement_evidence_required", "replacements_per_order", "replacement_window_hours"):
        op.drop_column("products", column)
