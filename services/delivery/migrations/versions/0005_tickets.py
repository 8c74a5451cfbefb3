"""After-sales tickets: a buyer's ticket about an order (category, level L1/L2, status, the reason it went to
the shop), its messages, and replacement claims, unique per delivered key so a key is claimed once however
many reports race.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("order_id", UUID(as_uuid=True), nullable=False),
        sa.Column("order_no", sa.Text, nullable=False),
        sa.Column("product_id", UUID(as_uuid=True), nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("key_id", UUID(as_uuid=True)),
        sa.Column("reason", sa.Text),
        sa.Column("resolved_at", TS),
        sa.CheckConstraint("status IN ('open', 'answered', 'resolved')", name="tickets_status"),
        sa.CheckConstraint("level IN ('L1', 'L2')", name="tickets_level"),
    )
    op.create_index("tickets_shop_queue", "tickets", ["shop_id", "status", "level", "created_at"])
    op.create_index("tickets_order", "tickets", ["order_id"])
    op.create_table(
        "ticket_messages",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_id", UUID(as_uuid=True), nullable=False),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("author_label", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("author IN ('buyer', 'shop', 'system')", name="ticket_messages_author"),
    )
    op.create_index("ticket_messages_ticket", "ticket_messages", ["ticket_id", "created_at"])
    op.create_table(
        "replacement_claims",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("order_id", UUID(as_uuid=True), nullable=False),
        sa.Column("ticket_id", UUID(as_uuid=True), nullable=False),
        sa.Column("key_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("new_key_id", UUID(as_uuid=True)),
        sa.Column("reason", sa.Text),
        sa.Column("completed_at", TS),
        sa.CheckConstraint(
            "status IN ('requested', 'replaced', 'refused')", name="replacement_claims_status"
        ),
    )


def downgrade() -> None:
    for table in ("replacement_claims", "ticket_messages", "tickets"):
        op.drop_table(table)
