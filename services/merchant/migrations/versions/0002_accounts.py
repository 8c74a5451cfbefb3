"""People: accounts (argon2id password hash, sealed TOTP secret, the last TOTP time step accepted), recovery
codes, platform roles, shop memberships, sessions, second-factor challenges and one-time links.

Every secret a person or a link holds (session and challenge tokens, link tokens, recovery codes) is stored
as its SHA-256 digest only; the TOTP secret, which must be read back to check a code, is sealed with the
service's keyring (AES-256-GCM, its key id beside it).

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


def at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def account_ref(**options: object) -> sa.Column:
    return sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False, **options)


def digest(name: str = "digest") -> sa.Column:
    return sa.Column(name, sa.LargeBinary, nullable=False)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text),
        at("email_verified_at", nullable=True),
        sa.Column("totp_secret", sa.LargeBinary),
        sa.Column("totp_key_id", sa.Text),
        at("totp_enabled_at", nullable=True),
        sa.Column("totp_last_step", sa.BigInteger),
        at("created_at"),
        at("updated_at"),
        sa.CheckConstraint("(totp_secret IS NULL) = (totp_key_id IS NULL)", name="accounts_totp_sealed"),
        sa.CheckConstraint(
            "totp_enabled_at IS NULL OR totp_secret IS NOT NULL", name="accounts_totp_enabled_has_secret"
        ),
    )
    op.create_index("accounts_email", "accounts", [sa.text("lower(email)")], unique=True)

    op.create_table(
        "recovery_codes",
        account_ref(primary_key=True),
        sa.Column("digest", sa.LargeBinary, primary_key=True),
        at("created_at"),
        at("used_at", nullable=True),
    )
    op.create_table(
        "platform_roles",
        account_ref(primary_key=True),
        sa.Column("role", sa.Text, primary_key=True),
        at("granted_at"),
        sa.CheckConstraint("role IN ('admin', 'support')", name="platform_roles_role"),
    )
    op.create_table(
        "memberships",
        sa.Column("shop_id", UUID, sa.ForeignKey("shops.id"), primary_key=True),
        account_ref(primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        at("created_at"),
        at("updated_at"),
        sa.CheckConstraint(
            "role IN ('owner', 'manager', 'operator', 'support', 'viewer')", name="memberships_role"
        ),
    )
    op.create_index("memberships_account", "memberships", ["account_id"])

    op.create_table(
        "sessions",
        sa.Column("id", UUID, primary_key=True),
        account_ref(),
        digest("token_digest"),
        at("created_at"),
        at("last_seen_at"),
        at("idle_expires_at"),
        at("absolute_expires_at"),
        at("second_factor_at", nullable=True),
        sa.Column("client_ip", sa.Text),
        sa.Column("user_agent", sa.Text, nullable=False),
        at("revoked_at", nullable=True),
        sa.UniqueConstraint("token_digest", name="sessions_token_digest"),
    )
    op.create_index(
        "sessions_live_by_account", "sessions", ["account_id"], postgresql_where=sa.text("revoked_at IS NULL")
    )

    op.create_table(
        "sign_in_challenges",
        sa.Column("id", UUID, primary_key=True),
        account_ref(),
        digest(),
        at("created_at"),
        at("expires_at"),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        at("used_at", nullable=True),
        sa.UniqueConstraint("digest", name="sign_in_challenges_digest"),
    )
    op.create_index("sign_in_challenges_account", "sign_in_challenges", ["account_id"])

    op.create_table(
        "account_links",
        sa.Column("id", UUID, primary_key=True),
        account_ref(),
        sa.Column("purpose", sa.Text, nullable=False),
        digest(),
        at("created_at"),
        at("expires_at"),
        at("used_at", nullable=True),
        sa.UniqueConstraint("digest", name="account_links_digest"),
        sa.CheckConstraint(
            "purpose IN ('password_reset', 'email_verification', 'account_setup')",
            name="account_links_purpose",
        ),
    )
    op.create_index(
        "account_links_open",
        "account_links",
        ["account_id", "purpose"],
        postgresql_where=sa.text("used_at IS NULL"),
    )


def downgrade() -> None:
    for table in (
        "account_links",
        "sign_in_challenges",
        "sessions",
        "memberships",
        "platform_roles",
        "recovery_codes",
        "accounts",
    ):
        op.drop_table(table)
