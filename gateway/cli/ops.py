"""The technician's commands of `checkpoint`: `install`, `uninstall`, `doctor` and `bench`.

Exit codes: 0 done (doctor: nothing failed; bench: fast enough), 1 failed, 2 bad usage.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import ConfigOption, fail
from gateway.config import config_path

RootOption = Annotated[
    Path,
    typer.Option(help="install into this directory tree instead of the running system"),
]


def register(app: typer.Typer) -> None:
    """Add `install`, `uninstall`, `doctor` and `bench` to the `checkpoint` app."""
    app.command("install")(install_command)
    app.command("uninstall")(uninstall_command)
    app.command("doctor")(doctor_command)
    app.command("bench")(bench_command)


def install_command(
    root: RootOption = Path("/"),
    prefix: Annotated[Path, typer.Option(help="where the virtualenv goes")] = Path(
        "/opt/checkpoint"
    ),
    config_dir: Annotated[Path, typer.Option(help="where gateway.toml lives")] = Path(
        "/etc/checkpoint"
    ),
    source: Annotated[
        Path | None,
        typer.Option(help="the source tree to install (default: the one this runs from)"),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            help="no package index (default: the one pip is configured for, e.g. a mirror): "
            "reuse the packages of the Python running this command"
        ),
    ] = False,
    gateway: Annotated[
        bool, typer.Option(help="enable the gate service (checkpoint-gateway)")
    ] = True,
    collector: Annotated[
        bool, typer.Option(help="enable the collector (checkpoint-collector)")
    ] = False,
) -> None:
    """Install or upgrade: user, virtualenv, config (kept if present), units, udev rules."""
    from gateway.operations.install import InstallError, Layout, install, source_tree

    tree = source or source_tree()
    if tree is None:
        fail("this copy is not a source tree: name one with --source DIR", 2)
    try:
        layout = Layout(root=root, prefix=prefix, config_dir=config_dir)
    except InstallError as exc:
        fail(str(exc), 2)
    try:
        install(
            layout,
            source=tree,
            offline=offline,
            enable_gateway=gateway,
            enable_collector=collector,
            report=typer.echo,
        )
    except InstallError as exc:
        fail(str(exc), 1)
    typer.echo(
        f"next: edit {layout.config_file}, put secrets in /etc/credstore/ "
        f"(e.g. checkpoint.mqtt-password), check with '{layout.venv}/bin/checkpoint doctor', "
        "then 'systemctl start checkpoint-gateway'"
    )


def uninstall_command(
    root: RootOption = Path("/"),
    prefix: Annotated[Path, typer.Option(help="where the virtualenv is")] = Path("/opt/checkpoint"),
    config_dir: Annotated[Path, typer.Option(help="where gateway.toml lives")] = Path(
        "/etc/checkpoint"
    ),
    purge: Annotated[
        bool, typer.Option(help="also delete the config, the database and the credentials")
    ] = False,
) -> None:
    """Disable and remove the service; the config and the data stay unless --purge."""
    from gateway.operations.install import InstallError, Layout, uninstall

    try:
        uninstall(
            Layout(root=root, prefix=prefix, config_dir=config_dir),
            purge=purge,
            report=typer.echo,
        )
    except InstallError as exc:
        fail(str(exc), 1)


def doctor_command(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for each device, the broker and the ack")
    ] = 5.0,
) -> None:
    """Check config, devices, disk, database, clock, broker and collector: pass, warn or fail."""
    from gateway.operations.doctor import exit_code, render, run_doctor, to_json

    # Every problem the devices and the broker log is in the table; keep the screen to it.
    logging.basicConfig(level=logging.WARNING, handlers=[logging.NullHandler()])
    path = config_path(config)
    if not as_json:
        typer.echo(
            f"checking {path}; devices are tried for {timeout:g} s each: "
            "show the test card to each scanner now",
            err=True,
        )
    findings = run_doctor(path, timeout_s=timeout)
    typer.echo(to_json(findings) if as_json else render(findings))
    raise typer.Exit(exit_code(findings))


def bench_command(
    quick: Annotated[
        bool, typer.Option(help="fewer iterations: a rough figure in seconds")
    ] = False,
) -> None:
    """Measure decoding, scan-to-verdict, durable writes and MQTT against what a gate needs."""
    from gateway.operations.bench import run_bench

    fast_enough = run_bench(quick=quick, echo=typer.echo)
    raise typer.Exit(0 if fast_enough else 1)
