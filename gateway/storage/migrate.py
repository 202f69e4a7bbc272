"""Schema migrations, run before anything else touches the database.

A database already at `HEAD` is opened without loading Alembic at all: most starts of the
service migrate nothing, and Alembic costs start-up time and memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from gateway.storage.engine import StorageError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HEAD = "0005"  # the newest migration in migrations/versions (a test holds them equal)
_SCRIPTS = "gateway.storage:migrations"
_VERSION_TABLE = "alembic_version"


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema; refuse a database newer than this program."""
    with engine.connect() as connection:
        current = current_revision(connection)
    if current == HEAD:
        return
    from alembic import command

    config = _alembic_config()
    if current is not None and current not in revisions():
        raise StorageError(
            f"the database was written by a newer checkpoint-gateway (schema {current}); "
            "install that version again or restore a backup"
        )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(connection: Connection) -> str | None:
    """The schema revision the database is at; None when it has no schema yet."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()


def revisions() -> list[str]:
    """Every schema revision this program knows, oldest first (the last one is the newest)."""
    scripts = _scripts()
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPTS)
    return config
