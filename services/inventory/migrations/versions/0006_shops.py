"""Shops: every inventory row names its shop. A product belongs to one shop; its keys, batches, reservations
and stock rows carry the product's shop, which the database holds to (foreign keys on (shop_id, product_id));
a product's category and main product are of its own shop too. Category names are unique per shop; key
fingerprints stay unique per product. A refusal records why the order got no stock.

Existing rows belong to the default shop; `add_shop_id` backfills them and leaves the column no default.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from faka_common.db.migrations import add_shop_id

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SHOP_OWNED = (
    "categories",
    "products",
    "key_batches",
    "card_keys",
    "available_keys",
    "reservations",
    "stock_refusals",
    "key_reveals",
    "stock_counts",
    "stock_changes",
)
#: Tables whose product_id must name a product of the row's own shop.
PRODUCT_CHILDREN = ("key_batches", "card_keys", "reservations", "stock_counts")


def upgrade() -> None:
    add_shop_id(*SHOP_OWNED)
    op.add_column("stock_refusals", sa.Column("reason", sa.Text))

    op.drop_constraint("categories_name", "categories", type_="unique")
    op.create_unique_constraint("categories_shop_name", "categories", ["shop_id", "name"])
    op.create_unique_constraint("categories_shop_id", "categories", ["shop_id", "id"])
    op.create_unique_constraint("products_shop_id", "products", ["shop_id", "id"])

    op.drop_constraint("products_category_id_fkey", "products", type_="foreignkey")
    op.create_foreign_key(
        "products_shop_category", "products", "categories", ["shop_id", "category_id"], ["shop_id", "id"]
    )
    op.drop_constraint("products_variant_of_fkey", "products", type_="foreignkey")
    op.create_foreign_key(
        "products_shop_variant_of", "products", "products", ["shop_id", "variant_of"], ["shop_id", "id"]
    )
    for table in PRODUCT_CHILDREN:
        op.drop_constraint(f"{table}_product_id_fkey", table, type_="foreignkey")
        op.create_foreign_key(
            f"{table}_shop_product", table, "products", ["shop_id", "product_id"], ["shop_id", "id"]
        )

    op.create_index("products_shop_list", "products", ["shop_id", "sort_order", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("products_shop_list", "products")
    for table in PRODUCT_CHILDREN:
        op.drop_constraint(f"{table}_shop_product", table, type_="foreignkey")
        op.create_foreign_key(f"{table}_product_id_fkey", table, "products", ["product_id"], ["id"])
    op.drop_constraint("products_shop_variant_of", "products", type_="foreignkey")
    op.create_foreign_key("products_variant_of_fkey", "products", "products", ["variant_of"], ["id"])
    op.drop_constraint("products_shop_category", "products", type_="foreignkey")
    op.create_foreign_key("products_category_id_fkey", "products", "categories", ["category_id"], ["id"])
    op.drop_constraint("products_shop_id", "products", type_="unique")
    op.drop_constraint("categories_shop_id", "categories", type_="unique")
    op.drop_constraint("categories_shop_name", "categories", type_="unique")
    # names unique again across shops: fails (rather than dropping a shop's category) if two shops share one
    op.create_unique_constraint("categories_name", "categories", ["name"])
    op.drop_column("stock_refusals", "reason")
    for table in reversed(SHOP_OWNED):
        op.drop_column(table, "shop_id")
