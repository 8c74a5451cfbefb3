"""API tokens: a shop's scripts call the admin API with a token of the shop, its scopes fixed when it is made.
Only the token's SHA-256 is stored (the token is shown once); revoked and expired tokens stay, for the record.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
#: merchant.domain.api_tokens.SCOPES as they were at this revision.
SCOPES = (
    "catalog:read",
    "catalog:write",
    "keys:import",
    "keys:export",
    "orders:read",
    "orders:write",
    "delivery:read",
    "delivery:write",
    "pricing:read",
    "pricing:write",
)


def at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    known = ", ".join(f"'{scope}'" for scope in SCOPES)
    op.create_table(
        "api_tokens",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("shop_id", UUID, sa.ForeignKey("shops.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("token_digest", sa.LargeBinary, nullable=False),
        sa.Column("created_by", UUID, sa.ForeignKey("accounts.id"), nullable=False),
        at("created_at"),
        at("last_used_at", nullable=True),
        at("expires_at", nullable=True),
        at("revoked_at", nullable=True),
        sa.UniqueConstraint("token_digest", name="api_tokens_token_digest"),
        sa.CheckConstraint(
            f"cardinality(scopes) > 0 AND scopes <@ ARRAY[{known}]::text[]", name="api_tokens_scopes"
        ),
        sa.CheckConstraint("octet_length(token_digest) = 32", name="api_tokens_digest_sha256"),
    )
    op.create_index("api_tokens_shop", "api_tokens", ["shop_id", "created_at"])


def downgrade() -> None:
    op.drop_table("api_tokens")
