"""The audit log: one entry per state-changing admin or platform request (the gateway's) or faka-admin change
(merchant's own), searched by shop, actor, action, target and time, newest first. Append-only: triggers refuse
every UPDATE, DELETE and TRUNCATE, so the service's own database role (the table's owner) cannot change or
remove an entry without a schema change of its own, which a migration would show. No foreign keys: an entry
records what a request named (a person's or a token's id, a shop) whatever becomes of it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)

REFUSE = """
CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.Text, nullable=False),
        sa.Column("actor_id", UUID),
        sa.Column("actor_label", sa.Text, nullable=False),
        sa.Column("shop_id", UUID),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("client_ip", postgresql.INET),
        sa.Column("user_agent", sa.Text),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("outcome", sa.SmallInteger, nullable=False),
        sa.UniqueConstraint("request_id", name="audit_entries_request_id"),
        sa.CheckConstraint(
            "char_length(request_id) BETWEEN 1 AND 64", name="audit_entries_request_id_length"
        ),
        sa.CheckConstraint(
            "actor_kind IN ('person', 'api_token', 'system')", name="audit_entries_actor_kind"
        ),
        sa.CheckConstraint("char_length(actor_label) BETWEEN 1 AND 254", name="audit_entries_actor_label"),
        sa.CheckConstraint("char_length(action) BETWEEN 1 AND 64", name="audit_entries_action"),
        sa.CheckConstraint("char_length(target) BETWEEN 1 AND 256", name="audit_entries_target"),
        sa.CheckConstraint("char_length(user_agent) <= 512", name="audit_entries_user_agent"),
        sa.CheckConstraint("char_length(summary) BETWEEN 1 AND 1000", name="audit_entries_summary"),
        sa.CheckConstraint("outcome BETWEEN 100 AND 599", name="audit_entries_outcome"),
    )
    # Newest first, ties broken by id (the search's order and its cursor), within each filter.
    for name, columns in (
        ("audit_entries_shop", "shop_id, occurred_at DESC, id DESC"),
        ("audit_entries_actor", "actor_id, occurred_at DESC, id DESC"),
        ("audit_entries_action", "action, occurred_at DESC, id DESC"),
        ("audit_entries_target", "target, occurred_at DESC, id DESC"),
        ("audit_entries_time", "occurred_at DESC, id DESC"),
    ):
        op.execute(f"CREATE INDEX {name} ON audit_entries ({columns})")
    op.execute(REFUSE)
    op.execute(
        "CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()"
    )
    # Harmless where the service's role owns the table (an owner keeps its privileges whatever PUBLIC loses;
    # the triggers above are what stop it); where an installation grants the service a role of its own that
    # is not the owner, this leaves it nothing but INSERT and SELECT to be granted.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries FROM PUBLIC")


def downgrade() -> None:
    op.drop_table("audit_entries")
    op.execute("DROP FUNCTION audit_entries_append_only()")
