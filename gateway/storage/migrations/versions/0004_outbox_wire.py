"""Outbox rows carry the revision waiting to be sent and its wire JSON, and leave the outbox
by themselves when their entry is marked synced.

Wire JSON for rows queued before this revision is written when the store opens
(`entries.fill_wire`), with the program's own encoder.

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
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("wire", sa.LargeBinary, nullable=True))
    op.execute(
        "UPDATE outbox SET revision = "
        "(SELECT revision FROM entries WHERE entries.id = outbox.entry_id)"
    )
    # Settling an ack is then one UPDATE of the entries it names.
    op.execute(
        "CREATE TRIGGER outbox_settled AFTER UPDATE OF synced_at ON entries "
        "WHEN OLD.synced_at IS NULL AND NEW.synced_at IS NOT NULL "
        "BEGIN DELETE FROM outbox WHERE entry_id = NEW.id; END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_settled")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("wire")
        batch.drop_column("revision")
