"""Durable local storage: SQLite in WAL mode with synchronous=FULL, migrated by alembic."""
