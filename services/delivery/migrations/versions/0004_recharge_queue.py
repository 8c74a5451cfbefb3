"""The recharge worker's queue index: its look for due work (every `recharge_poll_seconds`, 0.5 s) asks for a
recharging delivery, or a manual one with a submit still unresolved, and read every delivery to find one
(a sequential scan, 0.9 ms at 4,700 deliveries and growing with the table). A partial index over exactly
those two states, in the order the worker takes them (next attempt first, none before any), lets it read
only the deliveries it could take (0.04 ms, whatever the number of finished ones).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "deliveries_recharge_queue",
        "deliveries",
        [sa.text("next_attempt_at NULLS FIRST")],
        postgresql_where=sa.text("status IN ('recharging', 'manual')"),
    )


def downgrade() -> None:
    op.drop_index("deliveries_recharge_queue", "deliveries")
