"""One index on a payment's trade number: the unique (shop, provider, trade_no) and the console's search by
(shop, trade_no) become one unique index on (shop, trade_no, provider). A provider's trade numbers are random,
so each insert into either index landed on a random leaf and, after a checkpoint, wrote a whole page into
the WAL; one index instead of two halves that. Uniqueness is unchanged (the same three columns), the search
uses the index's first two columns, and `ON CONFLICT (shop_id, provider, trade_no)` infers it by its columns.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint("payments_trade_no", "payments", ["shop_id", "trade_no", "provider"])
    op.drop_constraint("payments_provider_trade_no", "payments")
    op.drop_index("payments_shop_trade_no", "payments")


def downgrade() -> None:
    op.create_index("payments_shop_trade_no", "payments", ["shop_id", "trade_no"])
    op.create_unique_constraint("payments_provider_trade_no", "payments", ["shop_id", "provider", "trade_no"])
    op.drop_constraint("payments_trade_no", "payments")
