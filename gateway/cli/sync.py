"""The sync commands of `checkpoint`: `gates` (what each gate last reported to the collector)
and `certs ...` (a site's certificate authority and the certificates MQTT over TLS needs).

Exit codes: 0 done, 1 failed, 2 bad usage or configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli.common import ConfigOption, fail, settings_from
from gateway.core.errors import CheckpointError
from gateway.operations import certs
from gateway.storage.records import database_url
from sync.publisher import STATE_INTERVAL_S

if TYPE_CHECKING:
    from sync.collector_store import GateState

CaDirOption = Annotated[
    Path, typer.Option("--dir", help="the site's certificate directory (holds ca.crt, ca.key)")
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="where to write the new files (default: --dir)")
]
DaysOption = Annotated[int, typer.Option(help="days the certificate is valid")]
ForceOption = Annotated[bool, typer.Option(help="replace existing files")]

# A gate that says it is online but has not been heard for this long is probably gone without
# its last will (e.g. while the broker was down).
SILENT_AFTER = timedelta(seconds=3 * STATE_INTERVAL_S)


def register(app: typer.Typer) -> None:
    """Add `gates` and `certs ca|gate|collector|server|bridge|broker` to `checkpoint`."""
    app.command("gates")(gates)
    group = typer.Typer(
        help="Certificates for MQTT over TLS: the site CA, gates, collectors, the community "
        "server and the broker.",
        no_args_is_help=True,
    )
    group.command("ca")(certs_ca)
    group.command("gate")(certs_gate)
    group.command("collector")(certs_collector)
    group.command("server")(certs_server)
    group.command("bridge")(certs_bridge)
    group.command("broker")(certs_broker)
    app.add_typer(group, name="certs")


def gates(
    database: Annotated[
        str | None,
        typer.Option(help="collector database URL or SQLite path (default: [collector] database)"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Each gate as the collector last heard it: state, last seen, backlog, oldest unsynced.

    STATE is online, offline (its last will or a clean stop) or silent (says online but has
    not been heard for three state intervals).
    """
    from sync.collector_store import read_gate_states  # the collector's database

    url = database_url(database or settings_from(config).collector.database)
    try:
        rows = sorted(read_gate_states(url), key=lambda row: (row.site, row.gate))
    except (CheckpointError, ValueError) as exc:
        fail(f"cannot read the gates from {url}: {exc}", 1)
    if not rows:
        typer.echo("no gate has reported yet")
        return
    for line in gate_table(rows, now=datetime.now(UTC)):
        typer.echo(line)


def gate_table(rows: Sequence[GateState], *, now: datetime) -> list[str]:
    """The lines `checkpoint gates` prints: a header, then one line per gate."""
    header = ("SITE", "GATE", "STATE", "LAST SEEN", "BACKLOG", "OLDEST UNSYNCED", "VERSION")
    table = [header] + [
        (
            row.site,
            row.gate,
            _state(row, now),
            _seen(row.last_seen, now),
            "-" if row.backlog is None else str(row.backlog),
            _time(row.oldest_unsynced),
            row.version or "-",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return [_row(line, widths) for line in table]


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _state(row: GateState, now: datetime) -> str:
    if row.state == "online" and (
        row.last_seen is None or now - _utc(row.last_seen) > SILENT_AFTER
    ):
        return "silent"
    return row.state


def _seen(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - _utc(moment)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{_time(moment)} ({seconds // size} {unit} ago)"
    return f"{_time(moment)} ({seconds} s ago)"


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else _utc(moment).strftime("%Y-%m-%d %H:%M:%SZ")


def _utc(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; the collector stores UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _issued(kind: str, files: certs.IssuedFiles) -> None:
    typer.echo(f"{kind}: {files.cert} (CN {certs.common_name(files.cert)!r}), key {files.key}")


def certs_ca(
    directory: CaDirOption,
    site: Annotated[str, typer.Option(help="the site (community) this CA signs for")],
    days: DaysOption = certs.CA_DAYS,
) -> None:
    """Create the site's certificate authority (ca.crt, ca.key) in --dir."""
    try:
        files = certs.create_ca(directory, site=site, now=_now(), days=days)
    except (certs.CertificateError, OSError) as exc:
        fail(str(exc), 1)
    _issued("CA", files)
    typer.echo("keep ca.key offline; give ca.crt to the broker, every gate and every collector")


def certs_gate(
    directory: CaDirOption,
    site: Annotated[str, typer.Option(help="the gate's site")],
    gate: Annotated[str, typer.Option(help="the gate's id ([gate] id)")],
    out: OutOption = None,
    acl: Annotated[
        Path | None,
        typer.Option(help="Mosquitto ACL file to add the gate's site-topic lines to"),
    ] = None,
    days: DaysOption = certs.LEAF_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue a gate's client certificate (CN "{site}/{gate}", its MQTT username)."""
    try:
        files = certs.issue_gate(
            directory, out or directory, site=site, gate=gate, now=_now(), days=days, force=force
        )
        added = certs.add_gate_to_acl(acl, site, gate) if acl is not None else None
    except (certs.CertificateError, OSError) as exc:
        fail(str(exc), 1)
    _issued("gate", files)
    if added is not None:
        typer.echo(f"{acl}: {'added' if added else 'already has'} the lines for {site}/{gate}")
    typer.echo(
        f"on the gate, [mqtt]: tls_ca = ca.crt, tls_cert = {files.cert.name}, "
        f"tls_key = {files.key.name}"
    )


def certs_collector(
    directory: CaDirOption,
    name: Annotated[str, typer.Option(help="this collector's name, for the file names")],
    out: OutOption = None,
    days: DaysOption = certs.LEAF_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue a collector's client certificate (CN "collector")."""
    try:
        files = certs.issue_collector(
            directory, out or directory, name=name, now=_now(), days=days, force=force
        )
    except (certs.CertificateError, OSError) as exc:
        fail(str(exc), 1)
    _issued("collector", files)


def certs_server(
    directory: CaDirOption,
    out: OutOption = None,
    days: DaysOption = certs.LEAF_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue the community server's client certificate (CN "community-server")."""
    try:
        files = certs.issue_server(directory, out or directory, now=_now(), days=days, force=force)
    except (certs.CertificateError, OSError) as exc:
        fail(str(exc), 1)
    _issued("community server", files)


def certs_bridge(
    directory: CaDirOption,
    name: Annotated[str, typer.Option(help="the bridging broker's name, e.g. its district")],
    out: OutOption = None,
    days: DaysOption = certs.LEAF_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue a district broker's client certificate for its bridge (CN "bridge-{name}")."""
    try:
        files = certs.issue_bridge(
            directory, out or directory, name=name, now=_now(), days=days, force=force
        )
    except (certs.CertificateError, OSError) as exc:
        fail(str(exc), 1)
    _issued("bridge", files)


def certs_broker(
    directory: CaDirOption,
    host: Annotated[
        list[str], typer.Option(help="a name or address clients dial (repeat for several)")
    ],
    out: OutOption = None,
    days: DaysOption = certs.LEAF_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue the broker's TLS server certificate (broker.crt, broker.key)."""
    try:
        files = certs.issue_broker(
            directory, out or directory, hosts=host, now=_now(), days=days, force=force
        )
    except (certs.CertificateError, OSError) as exc:
        fail(str(exc), 1)
    _issued("broker", files)
