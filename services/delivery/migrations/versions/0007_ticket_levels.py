"""Ticket levels and SLA timers: L3 (the platform) beside L1 and L2; the platform as a message's author; the
deadlines of a ticket waiting for its support (a response, a resolution, and for L2 the escalation to the
platform), when it was found overdue, and `next_due_at`, the one deadline the periodic sweep looks at
(indexed, so a restarted or second replica finds the same work); each shop's L2 timers and the platform's
L3 timers; each shop's canned replies in zh-CN and English.

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

TS = sa.DateTime(timezone=True)
DEADLINES = ("response_due", "resolution_due", "escalation_due", "overdue_at", "next_due_at", "escalated_at")


def upgrade() -> None:
    for name in DEADLINES:
        op.add_column("tickets", sa.Column(name, TS))
    op.add_column("tickets", sa.Column("escalated_by", sa.Text))
    op.drop_constraint("tickets_level", "tickets")
    op.create_check_constraint("tickets_level", "tickets", "level IN ('L1', 'L2', 'L3')")
    op.create_index(
        "tickets_next_due", "tickets", ["next_due_at"], postgresql_where=sa.text("next_due_at IS NOT NULL")
    )
    op.create_index("tickets_level_queue", "tickets", ["level", "status", "created_at"])
    op.drop_constraint("ticket_messages_author", "ticket_messages")
    op.create_check_constraint(
        "ticket_messages_author", "ticket_messages", "author IN ('buyer', 'shop', 'platform', 'system')"
    )
    op.create_table(
        "ticket_sla_policies",
        sa.Column("shop_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("first_response_minutes", sa.Integer, nullable=False),
        sa.Column("resolution_minutes", sa.Integer, nullable=False),
        sa.Column("escalation_minutes", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
    )
    op.create_table(
        "platform_ticket_sla",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("first_response_minutes", sa.Integer, nullable=False),
        sa.Column("resolution_minutes", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.CheckConstraint("id = 1", name="platform_ticket_sla_one_row"),
    )
    op.create_table(
        "canned_replies",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.CheckConstraint("language IN ('zh-CN', 'en')", name="canned_replies_language"),
        sa.UniqueConstraint("shop_id", "language", "title", name="canned_replies_title"),
    )


def downgrade() -> None:
    op.drop_table("canned_replies")
    op.drop_table("platform_ticket_sla")
    op.drop_table("ticket_sla_policies")
    op.drop_constraint("ticket_messages_author", "ticket_messages")
    op.create_check_constraint(
        "ticket_messages_author", "ticket_messages", "author IN ('buyer', 'shop', 'system')"
    )
    op.drop_index("tickets_level_queue", "tickets")
    op.drop_index("tickets_next_due", "tickets")
    op.drop_constraint("tickets_level", "tickets")
    op.create_check_constraint("tickets_level", "tickets", "level IN ('L1', 'L2')")
    op.drop_column("tickets", "escalated_by")
    for name in DEADLINES:
        op.drop_column("tickets", name)
