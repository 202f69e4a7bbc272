"""What every group of commands shares: the `--config` option, failing with an exit code,
reading the settings and the database a command works on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from gateway.config import Settings, config_path, load_settings
from gateway.core.errors import ConfigError
from gateway.storage.records import database_url

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="config file (default: $CHECKPOINT_CONFIG or /etc/checkpoint/gateway.toml)",
    ),
]


def fail(message: str, code: int) -> NoReturn:
    """Say what went wrong on stderr and exit with `code` (1: failed, 2: usage or config)."""
    typer.echo(f"checkpoint: {message}", err=True)
    raise typer.Exit(code)


def settings_from(config: Path | None) -> Settings:
    """The settings of the named (or default) config file; a broken file exits with 2."""
    try:
        return load_settings(config_path(config))
    except ConfigError as exc:
        fail(f"configuration error\n{exc}", 2)


def database_from(database: str | None, config: Path | None) -> str:
    """The URL of `--database` if given, else of the gate's database in the config."""
    return database_url(database) if database else database_url(settings_from(config).storage.path)


def setup_logging(verbose: bool) -> None:
    from gateway.runtime.logs import configure

    configure(verbose)
