"""Fulfilment: delivery life cycle, attempts, manual queue, sealed content, suppliers, routes, claims.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
JSONB = postgresql.JSONB
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_constraint("deliveries_status", "deliveries")
    op.create_check_constraint(
        "deliveries_status",
        "deliveries",
        "status IN ('pending', 'recharging', 'manual', 'succeeded', 'failed', 'cancelled')",
    )
    op.alter_column("deliveries", "attempts", server_default="0")
    op.add_column("deliveries", sa.Column("product_id", UUID))
    op.add_column("deliveries", sa.Column("paid_at", TS))
    op.add_column("deliveries", sa.Column("requested_at", TS))
    op.add_column(
        "deliveries", sa.Column("request", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    op.add_column("deliveries", sa.Column("next_attempt_at", TS))
    op.add_column("deliveries", sa.Column("lease_until", TS))
    op.add_column("deliveries", sa.Column("sla_alerted_at", TS))
    op.create_index(
        "deliveries_recharge_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'recharging'"),
    )
    op.create_index(
        "deliveries_undelivered",
        "deliveries",
        ["created_at"],
        postgresql_where=sa.text("status IN ('pending', 'recharging') AND sla_alerted_at IS NULL"),
    )

    op.create_table(
        "suppliers",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("config", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("secret_key_id", sa.Text, nullable=False),
        sa.Column("secret_blob", sa.LargeBinary, nullable=False),
        sa.Column("timeout_seconds", sa.Float, nullable=False, server_default="5"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('http_json', 'platform')", name="suppliers_kind"),
    )
    op.create_table(
        "supplier_routes",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("product_id", UUID, nullable=False),
        sa.Column("supplier_id", UUID, sa.ForeignKey("suppliers.id"), nullable=False),
        sa.Column("supplier_sku", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.UniqueConstraint("product_id", "supplier_id", name="supplier_routes_product_supplier"),
        sa.CheckConstraint("cost >= 0", name="supplier_routes_cost"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("delivery_id", UUID, nullable=False),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False, server_default="deliver"),
        sa.Column("supplier_id", UUID),
        sa.Column("cost", sa.BigInteger),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("error_class", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("supplier_order_no", sa.Text),
    )
    op.create_index("delivery_attempts_order", "delivery_attempts", ["order_id", "started_at"])
    op.create_index("delivery_attempts_supplier", "delivery_attempts", ["supplier_id", "started_at"])
    op.create_table(
        "manual_tasks",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("order_id", UUID, nullable=False, unique=True),
        sa.Column("delivery_id", UUID, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("claimed_by", sa.Text),
        sa.Column("claimed_at", TS),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolved_at", TS),
        sa.Column("reject_reason", sa.Text),
        sa.CheckConstraint(
            "status IN ('open', 'claimed', 'delivered', 'rejected', 'resolved')", name="manual_tasks_status"
        ),
    )
    op.create_index(
        "manual_tasks_open",
        "manual_tasks",
        ["created_at"],
        postgresql_where=sa.text("status IN ('open', 'claimed')"),
    )
    op.create_table(
        "delivery_contents",
        sa.Column("order_id", UUID, primary_key=True),
        sa.Column("delivery_id", UUID, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "content_reveals",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("reader", sa.Text, nullable=False),
        sa.Column("revealed_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("content_reveals_order", "content_reveals", ["order_id"])
    op.create_table(
        "supplier_claims",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("supplier_id", UUID, sa.ForeignKey("suppliers.id"), nullable=False),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount >= 0", name="supplier_claims_amount"),
    )
    op.create_index("supplier_claims_supplier", "supplier_claims", ["supplier_id", "created_at"])


def downgrade() -> None:
    for table in (
        "supplier_claims",
        "content_reveals",
        "delivery_contents",
        "manual_tasks",
        "delivery_attempts",
    ):
        op.drop_table(table)
    op.drop_table("supplier_routes")
    op.drop_table("suppliers")
    op.drop_index("deliveries_undelivered", "deliveries")
    op.drop_index("deliveries_recharge_due", "deliveries")
    for column in (
        "sla_alerted_at",
        "lease_until",
        "next_attempt_at",
        "request",
        "requested_at",
        "paid_at",
        "product_id",
    ):
        op.drop_column("deliveries", column)
    op.alter_column("deliveries", "attempts", server_default="1")
    op.drop_constraint("deliveries_status", "deliveries")
    op.create_check_constraint("deliveries_status", "deliveries", "status IN ('succeeded', 'failed')")
