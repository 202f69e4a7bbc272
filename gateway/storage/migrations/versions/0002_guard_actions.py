"""Guard actions on entries: who confirmed an unverifiable code's colour, a revision number
for entries changed after recording, and an index for finding a subject's recent passages.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("confirmed_by", sa.String, nullable=True))
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
        batch.create_index("ix_entries_subject", ["subject", "occurred_at"])


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_index("ix_entries_subject")
        batch.drop_column("revision")
        batch.drop_column("confirmed_by")
