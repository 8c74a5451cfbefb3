"""Shops: every delivery-owned row names its shop; supplier names are unique per shop and a route or a claim
can only name a supplier of its own shop.

Existing rows belong to the default shop; `add_shop_id` backfills them and leaves the column no default.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from faka_common.db.migrations import add_shop_id

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SHOP_OWNED = (
    "deliveries",
    "delivery_attempts",
    "manual_tasks",
    "delivery_contents",
    "content_reveals",
    "suppliers",
    "supplier_routes",
    "supplier_claims",
)
SUPPLIER_CHILDREN = ("supplier_routes", "supplier_claims")
OPEN_TASKS = sa.text("status IN ('open', 'claimed')")
#: What a shop's admin lists and the recharge worker's routing read, by shop: (name, table, columns, where).
SHOP_INDEXES = (
    ("deliveries_shop", "deliveries", ["shop_id", "created_at"], None),
    ("manual_tasks_open", "manual_tasks", ["shop_id", "created_at"], OPEN_TASKS),
    ("manual_tasks_shop", "manual_tasks", ["shop_id", "created_at"], None),
    ("supplier_routes_shop_product", "supplier_routes", ["shop_id", "product_id"], None),
    (
        "delivery_attempts_shop_submits",
        "delivery_attempts",
        ["shop_id", "started_at"],
        sa.text("phase = 'submit' AND supplier_id IS NOT NULL"),
    ),
    ("supplier_claims_shop", "supplier_claims", ["shop_id", "created_at"], None),
)


def upgrade() -> None:
    add_shop_id(*SHOP_OWNED)

    op.drop_constraint("suppliers_name_key", "suppliers", type_="unique")
    op.create_unique_constraint("suppliers_shop_name", "suppliers", ["shop_id", "name"])
    op.create_unique_constraint("suppliers_shop_id", "suppliers", ["shop_id", "id"])
    for table in SUPPLIER_CHILDREN:
        op.drop_constraint(f"{table}_supplier_id_fkey", table, type_="foreignkey")
        op.create_foreign_key(
            f"{table}_shop_supplier", table, "suppliers", ["shop_id", "supplier_id"], ["shop_id", "id"]
        )

    op.drop_index("manual_tasks_open", "manual_tasks")  # the open queue is read per shop now
    for name, table, columns, where in SHOP_INDEXES:
        op.create_index(name, table, columns, postgresql_where=where)


def downgrade() -> None:
    for name, table, _, _ in SHOP_INDEXES:
        op.drop_index(name, table)
    op.create_index("manual_tasks_open", "manual_tasks", ["created_at"], postgresql_where=OPEN_TASKS)
    for table in SUPPLIER_CHILDREN:
        op.drop_constraint(f"{table}_shop_supplier", table, type_="foreignkey")
        op.create_foreign_key(f"{table}_supplier_id_fkey", table, "suppliers", ["supplier_id"], ["id"])
    op.drop_constraint("suppliers_shop_id", "suppliers", type_="unique")
    op.drop_constraint("suppliers_shop_name", "suppliers", type_="unique")
    op.create_unique_constraint("suppliers_name_key", "suppliers", ["name"])
    for table in SHOP_OWNED:
        op.drop_column(table, "shop_id")
