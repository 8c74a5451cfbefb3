"""A shop's own notification channels (one row per shop that set any): the sender of its buyers' e-mails
(name, address, reply-to), an optional SMTP server of its own (the password sealed with the service's
keyring: key id + nonce||ciphertext), its seller-alert e-mail recipients and an optional signed webhook (the
secret sealed likewise). A shop without a row uses the platform's channels.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shop_channels",
        sa.Column("shop_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("from_name", sa.Text),
        sa.Column("from_address", sa.Text),
        sa.Column("reply_to", sa.Text),
        sa.Column("smtp_host", sa.Text),
        sa.Column("smtp_port", sa.Integer),
        sa.Column("smtp_security", sa.Text),
        sa.Column("smtp_username", sa.Text),
        sa.Column("smtp_password_key_id", sa.Text),
        sa.Column("smtp_password", sa.LargeBinary),
        sa.Column("alert_emails", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("webhook_url", sa.Text),
        sa.Column("webhook_secret_key_id", sa.Text),
        sa.Column("webhook_secret", sa.LargeBinary),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "(smtp_host IS NULL) = (smtp_port IS NULL) AND (smtp_host IS NULL) = (smtp_security IS NULL)",
            name="shop_channels_smtp_whole",
        ),
        sa.CheckConstraint(
            "smtp_security IS NULL OR smtp_security IN ('starttls', 'tls', 'none')",
            name="shop_channels_smtp_security",
        ),
        sa.CheckConstraint(
            "(smtp_password IS NULL) = (smtp_password_key_id IS NULL)", name="shop_channels_smtp_sealed"
        ),
        sa.CheckConstraint(
            "(webhook_url IS NULL) = (webhook_secret IS NULL) "
            "AND (webhook_secret IS NULL) = (webhook_secret_key_id IS NULL)",
            name="shop_channels_webhook_signed",
        ),
    )


def downgrade() -> None:
    op.drop_table("shop_channels")
