"""`checkpoint bundle ...`: sync by hand, for a gate that is offline for days.

At the gate: `export` (entries not yet acknowledged, signed and sealed to the collector),
`receipt` (settle what the collector stored), `import-lists`. At the community side: `import`
(store a bundle, write its receipt) and `lists` (trust list, status list, policy for gates).

Exit codes: 0 done (also when nothing new was stored), 1 refused or failed, 2 bad config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import ConfigOption, fail, settings_from
from gateway.codes.files import write_atomic
from gateway.codes.status_list import StatusStore, load_status_list
from gateway.codes.trust import TrustStore
from gateway.config import Settings
from gateway.core.errors import CheckpointError
from gateway.documents.bundles import RECEIPT_SUFFIX, GateBundles, site_identity
from gateway.documents.remote import RemoteDocuments
from gateway.service.policy_holder import PolicyHolder
from gateway.storage.records import database_url
from gateway.storage.store import EntryStore
from sync.bundle import Lists, read_entries_bundle, receipt_for, write_lists, write_receipt
from sync.topics import Topics

FileArgument = Annotated[Path, typer.Argument(help="the bundle or receipt file")]
OutputOption = Annotated[Path, typer.Option("--output", "-o", help="the file to write")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Sync by hand on a USB stick: signed, encrypted entries bundles, receipts, lists.",
        no_args_is_help=True,
    )
    group.command("export")(export)
    group.command("import")(import_bundle)
    group.command("receipt")(receipt)
    group.command("lists")(lists)
    group.command("import-lists")(import_lists)
    app.add_typer(group, name="bundle")


def _now() -> datetime:
    return datetime.now(UTC)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read it: {exc.strerror}", 1)


@contextmanager
def _gate(settings: Settings) -> Iterator[GateBundles]:
    """The gate's side over its database and the list files on its disk."""
    storage = settings.storage
    store = EntryStore.open(storage.path)
    topics = Topics(settings.mqtt.topic_prefix, settings.gate.site, settings.gate.id)
    remote = RemoteDocuments(
        settings=settings,
        topics=topics,
        trust=TrustStore.load(storage.trust_list_path()),
        trust_path=storage.trust_list_path(),
        status=StatusStore(load_status_list(storage.status_list_path())),
        status_path=storage.status_list_path(),
        policy=PolicyHolder(settings.policy_rules),
        policy_path=storage.policy_path(),
    )
    try:
        yield GateBundles(settings=settings, store=store, remote=remote, now=_now)
    finally:
        store.close()


def export(output: OutputOption, config: ConfigOption = None) -> None:
    """At the gate: write every entry not yet acknowledged to one signed, encrypted file.

    Nothing is marked synced: that takes the collector's receipt (or its MQTT ack).
    """
    settings = settings_from(config)
    try:
        with _gate(settings) as desk:
            exported = desk.export(output)
    except (CheckpointError, OSError) as exc:
        fail(f"bundle not written: {exc}", 1)
    typer.echo(f"wrote {exported.entries} entries to {exported.path}")
    typer.echo("they stay unsynced here until 'checkpoint bundle receipt' or the network")


def import_bundle(
    file: FileArgument,
    database: Annotated[
        str | None,
        typer.Option(help="collector database URL or SQLite path (default: [collector] database)"),
    ] = None,
    receipt_file: Annotated[
        Path | None,
        typer.Option(
            "--receipt", help=f"where to write the receipt (default: FILE{RECEIPT_SUFFIX})"
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """At the collector: check, decrypt and store a gate's bundle, then write its receipt.

    Stored by entry id and revision like the MQTT path; a bundle imported before stores
    nothing new (its receipt is written again).
    """
    from sync.collector_store import import_bundle as import_collector_bundle  # the collector's

    settings = settings_from(config)
    data = _read(file)
    now = _now()
    url = database_url(database or settings.collector.database)
    try:
        identity, ca = site_identity(settings)
        bundle = read_entries_bundle(data, identity=identity, ca=ca, now=now)
        new = import_collector_bundle(url, bundle, received_at=now)
        path = receipt_file or file.with_name(file.name + RECEIPT_SUFFIX)
        write_atomic(
            path, write_receipt(receipt_for(bundle), identity=identity, now=now), mode=0o644
        )
    except (CheckpointError, OSError, ValueError) as exc:
        fail(f"{file}: refused: {exc}", 1)
    if new:
        typer.echo(f"stored {bundle.count} entries of {bundle.site}/{bundle.gate}")
    else:
        typer.echo(f"imported before: nothing new stored from {bundle.site}/{bundle.gate}")
    typer.echo(f"receipt: {path} (take it back to the gate: 'checkpoint bundle receipt')")


def receipt(file: FileArgument, config: ConfigOption = None) -> None:
    """At the gate: settle exactly the entries the collector's receipt names."""
    settings = settings_from(config)
    data = _read(file)
    try:
        with _gate(settings) as desk:
            settled = desk.settle(data)
    except (CheckpointError, OSError) as exc:
        fail(f"{file}: refused: {exc}", 1)
    already = settled.named - settled.settled
    typer.echo(
        f"settled {settled.settled} of the {settled.named} entries the receipt names"
        + (f" ({already} were settled already)" if already else "")
    )


def lists(
    output: OutputOption,
    trust: Annotated[Path | None, typer.Option(help="trust list JSON")] = None,
    status: Annotated[Path | None, typer.Option(help="status list JSON")] = None,
    policy: Annotated[Path | None, typer.Option(help="policy JSON (needs --gate)")] = None,
    gate: Annotated[str | None, typer.Option(help="for this gate only")] = None,
    site: Annotated[str | None, typer.Option(help="the site (default: [gate] site)")] = None,
    config: ConfigOption = None,
) -> None:
    """At the community side: sign a trust list, status list and policy for the gates.

    The documents are the ones kept retained over MQTT; gates check them the same way.
    """
    settings = settings_from(config)
    if trust is None and status is None and policy is None:
        fail("give at least one of --trust, --status, --policy", 2)
    if policy is not None and gate is None:
        fail("a policy is per gate: give --gate", 2)
    now = _now()
    documents = Lists(
        site=site or settings.gate.site,
        gate=gate,
        created_at=now,
        trust=None if trust is None else _read(trust),
        status=None if status is None else _read(status),
        policy=None if policy is None else _read(policy),
    )
    try:
        identity, ca = site_identity(settings)
        write_atomic(output, write_lists(documents, identity=identity, ca=ca, now=now), mode=0o644)
    except (CheckpointError, OSError) as exc:
        fail(f"lists not written: {exc}", 1)
    typer.echo(f"wrote the lists for {documents.site}{'/' + gate if gate else ''} to {output}")


def import_lists(file: FileArgument, config: ConfigOption = None) -> None:
    """At the gate: take in a lists bundle; only valid, newer lists replace the ones here.

    A running service takes them at its next start; the technician page puts them in force
    at once.
    """
    settings = settings_from(config)
    data = _read(file)
    try:
        with _gate(settings) as desk:
            lines = asyncio.run(desk.import_lists(data))
    except (CheckpointError, OSError) as exc:
        fail(f"{file}: refused: {exc}", 1)
    for line in lines:
        typer.echo(line)
