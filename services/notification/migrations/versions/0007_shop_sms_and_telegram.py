"""A shop's own SMS accounts and its seller alerts' Telegram chat, beside its other channels: an Aliyun SMS
account (AccessKey id, the secret sealed with the service's keyring and bound to the shop, sign name, an
approved TemplateCode per notice), a Twilio account (SID, the auth token sealed likewise, the number it sends
from), and the chat the platform's bot sends the shop's alerts to. Endpoints stay the platform's settings.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shop_channels", sa.Column("aliyun_access_key_id", sa.Text))
    op.add_column("shop_channels", sa.Column("aliyun_secret_key_id", sa.Text))
    op.add_column("shop_channels", sa.Column("aliyun_secret", sa.LargeBinary))
    op.add_column("shop_channels", sa.Column("aliyun_sign_name", sa.Text))
    op.add_column("shop_channels", sa.Column("aliyun_templates", postgresql.JSONB))
    op.add_column("shop_channels", sa.Column("twilio_account_sid", sa.Text))
    op.add_column("shop_channels", sa.Column("twilio_token_key_id", sa.Text))
    op.add_column("shop_channels", sa.Column("twilio_token", sa.LargeBinary))
    op.add_column("shop_channels", sa.Column("twilio_from", sa.Text))
    op.add_column("shop_channels", sa.Column("alert_telegram_chat", sa.Text))
    # an account is whole: its secret sealed (key id and blob together), its sender and its templates
    op.create_check_constraint(
        "shop_channels_aliyun_whole",
        "shop_channels",
        "(aliyun_access_key_id IS NULL) = (aliyun_secret IS NULL) "
        "AND (aliyun_secret IS NULL) = (aliyun_secret_key_id IS NULL) "
        "AND (aliyun_access_key_id IS NULL) = (aliyun_sign_name IS NULL) "
        "AND (aliyun_access_key_id IS NULL) = (aliyun_templates IS NULL)",
    )
    op.create_check_constraint(
        "shop_channels_twilio_whole",
        "shop_channels",
        "(twilio_account_sid IS NULL) = (twilio_token IS NULL) "
        "AND (twilio_token IS NULL) = (twilio_token_key_id IS NULL) "
        "AND (twilio_account_sid IS NULL) = (twilio_from IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint("shop_channels_twilio_whole", "shop_channels")
    op.drop_constraint("shop_channels_aliyun_whole", "shop_channels")
    for column in (
        "alert_telegram_chat",
        "twilio_from",
        "twilio_token",
        "twilio_token_key_id",
        "twilio_account_sid",
        "aliyun_templates",
        "aliyun_sign_name",
        "aliyun_secret",
        "aliyun_secret_key_id",
        "aliyun_access_key_id",
    ):
        op.drop_column("shop_channels", column)
