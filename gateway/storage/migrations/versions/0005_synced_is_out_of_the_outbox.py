"""An entry is synced when it has no outbox row: settling an ack is one DELETE of outbox rows.
The entries' `synced_at`, its index and the trigger that kept the two in step go.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_settled")
    op.drop_index("ix_entries_synced_at", table_name="entries")
    op.drop_column("entries", "synced_at")


def downgrade() -> None:
    op.add_column("entries", sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE entries SET synced_at = CURRENT_TIMESTAMP WHERE seq NOT IN (SELECT seq FROM outbox)"
    )
    op.create_index("ix_entries_synced_at", "entries", ["synced_at"])
    op.execute(
        "CREATE TRIGGER outbox_settled AFTER UPDATE OF synced_at ON entries "
        "WHEN OLD.synced_at IS NULL AND NEW.synced_at IS NOT NULL "
        "BEGIN DELETE FROM outbox WHERE entry_id = NEW.id; END"
    )
