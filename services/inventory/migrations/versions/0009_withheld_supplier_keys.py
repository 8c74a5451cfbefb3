"""A paused supplier's card keys stop selling: a key may be `withdrawn` (held back from sale, not void: it
is the supplier's and a claim may follow), and `supplier_holds` keeps each shop's supplier paused or not, as
delivery last announced it (one row per supplier a batch names, so an import and a released reservation
lock it against a pause landing at the same time).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("card_keys_status", "card_keys")
    op.create_check_constraint(
        "card_keys_status",
        "card_keys",
        "status IN ('available', 'reserved', 'sold', 'void', 'expired', 'withdrawn')",
    )
    op.create_table(
        "supplier_holds",
        sa.Column("shop_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("supplier_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("'-infinity'::timestamptz"),
        ),
    )
    op.execute(
        "INSERT INTO supplier_holds (shop_id, supplier_id) "
        "SELECT DISTINCT shop_id, supplier_id FROM key_batches WHERE supplier_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(
        "WITH back AS (UPDATE card_keys SET status = 'available' WHERE status = 'withdrawn' "
        "RETURNING id, product_id, shop_id, position, rank, expires_at), queued AS ("
        "INSERT INTO available_keys (key_id, product_id, shop_id, seq, rank, expires_at) "
        "SELECT id, product_id, shop_id, position, rank, expires_at FROM back) "
        "INSERT INTO stock_changes (product_id, shop_id, available) "
        "SELECT product_id, shop_id, count(*) FROM back GROUP BY product_id, shop_id"
    )
    op.drop_table("supplier_holds")
    op.drop_constraint("card_keys_status", "card_keys")
    op.create_check_constraint(
        "card_keys_status", "card_keys", "status IN ('available', 'reserved', 'sold', 'void', 'expired')"
    )
