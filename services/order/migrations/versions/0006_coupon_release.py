"""A coupon use is given back when its order ends unpaid: the redemption keeps when it was released (so it is
given back exactly once), and a late payment may take the use again past the coupon's limit (the buyer paid
the discounted price), so the limit is enforced by the conditional UPDATE that takes new uses, not by a CHECK.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("coupon_redemptions", sa.Column("released_at", sa.DateTime(timezone=True)))
    op.drop_constraint("coupons_used_within_limit", "coupons")
    op.create_check_constraint("coupons_used_not_negative", "coupons", "used_count >= 0")


def downgrade() -> None:
    op.drop_constraint("coupons_used_not_negative", "coupons")
    op.create_check_constraint(
        "coupons_used_within_limit", "coupons", "usage_limit IS NULL OR used_count <= usage_limit"
    )
    op.drop_column("coupon_redemptions", "released_at")
