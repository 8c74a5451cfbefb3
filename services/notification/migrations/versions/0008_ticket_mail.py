"""A ticket's conversation by e-mail: which shop and order each ticket whose reply was e-mailed belongs to
(an inbound reply names only the ticket), and each buyer's e-mail taken into a ticket by its Message-ID, so a
repeated delivery of the same e-mail adds nothing.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ticket_mail_threads",
        sa.Column("ticket_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("order_id", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "ticket_inbound_mails",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("ticket_id", UUID(as_uuid=True), nullable=False),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("ticket_inbound_mails")
    op.drop_table("ticket_mail_threads")
