"""Entries, their outbox and the never-reused counters.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("gate", sa.String, nullable=False),
        sa.Column("site", sa.String, nullable=False),
        sa.Column("lane", sa.String, nullable=False),
        sa.Column("direction", sa.String, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("boot_id", sa.String, nullable=False),
        sa.Column("monotonic_ns", sa.BigInteger, nullable=False),
        sa.Column("code_format", sa.String, nullable=False),
        sa.Column("code_check", sa.String, nullable=False),
        sa.Column("code_status", sa.String, nullable=False),
        sa.Column("subject", sa.String, nullable=True),
        sa.Column("subject_label", sa.String, nullable=True),
        sa.Column("payload_digest", sa.String, nullable=True),
        sa.Column("temperature_c", sa.Float, nullable=True),
        sa.Column("temperature_source", sa.String, nullable=True),
        sa.Column("remeasured", sa.Boolean, nullable=False),
        sa.Column("decision", sa.String, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("override_by", sa.String, nullable=True),
        sa.Column("override_reason", sa.String, nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_entries_seq", "entries", ["seq"], unique=True)
    op.create_index("ix_entries_decision", "entries", ["decision"])
    op.create_index("ix_entries_synced_at", "entries", ["synced_at"])
    op.create_index("ix_entries_occurred_at", "entries", ["occurred_at"])
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("entry_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_outbox_entry_id", "outbox", ["entry_id"], unique=True)
    op.create_table(
        "counters",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_table("outbox")
    op.drop_table("entries")
