"""Alembic environment: runs on the connection handed over by `gateway.storage.migrate`."""

from alembic import context
from sqlmodel import SQLModel

import gateway.storage.tables  # noqa: F401  (the tables register with SQLModel's metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
