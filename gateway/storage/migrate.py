"""Schema migrations, run before anything else touches the database."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from gateway.storage.engine import StorageError

_SCRIPTS = "gateway.storage:migrations"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", _SCRIPTS)
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema; refuse a database newer than this program."""
    config = _alembic_config()
    scripts = ScriptDirectory.from_config(config)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and not _known(scripts, current):
        raise StorageError(
            f"the database was written by a newer checkpoint-gateway (schema {current}); "
            "install that version again or restore a backup"
        )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def revisions() -> list[str]:
    """Every schema revision this program knows, oldest first (the last one is the newest)."""
    scripts = ScriptDirectory.from_config(_alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]
