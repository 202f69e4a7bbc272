"""A site for sync by hand: its CA, a gate, a collector and their config files."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction, NewEntry
from gateway.operations import certs
from gateway.storage import entries as entry_access
from gateway.storage.store import EntryStore

SITE = "xiaojiang"
GATE = "north-1"
START = datetime(2026, 11, 20, 7, tzinfo=UTC)


@dataclass(frozen=True)
class Site:
    directory: Path
    gate_config: Path
    collector_config: Path
    gate_db: Path
    collector_db: Path
    gate_files: certs.IssuedFiles
    collector_files: certs.IssuedFiles

    @property
    def collector_url(self) -> str:
        return f"sqlite:///{self.collector_db}"


def make_site(root: Path, *, site: str = SITE, gate: str = GATE, name: str = "site") -> Site:
    """A CA with one gate and one collector certificate, and both machines' config files."""
    directory = root / name
    now = datetime.now(UTC)
    certs.create_ca(directory, site=site, now=now)
    gate_files = certs.issue_gate(directory, directory, site=site, gate=gate, now=now)
    collector_files = certs.issue_collector(directory, directory, name="one", now=now)
    gate_db = root / f"{name}-gate.db"
    collector_db = root / f"{name}-collector.db"
    gate_config = root / f"{name}-gate.toml"
    gate_config.write_text(
        f'[gate]\nid = "{gate}"\nsite = "{site}"\n'
        f'[storage]\npath = "{gate_db}"\n'
        f'[mqtt]\ntls_ca = "{directory / certs.CA_CERT}"\n'
        f'tls_cert = "{gate_files.cert}"\ntls_key = "{gate_files.key}"\n'
        f'[bundle]\ncollector_cert = "{collector_files.cert}"\n',
        encoding="utf-8",
    )
    collector_config = root / f"{name}-collector.toml"
    collector_config.write_text(
        f'[gate]\nsite = "{site}"\n'
        f'[mqtt]\ntls_ca = "{directory / certs.CA_CERT}"\n'
        f'tls_cert = "{collector_files.cert}"\ntls_key = "{collector_files.key}"\n'
        f'[collector]\ndatabase = "sqlite:///{collector_db}"\n',
        encoding="utf-8",
    )
    return Site(
        directory, gate_config, collector_config, gate_db, collector_db, gate_files, collector_files
    )


def add_gate(site: Site, gate: str, root: Path) -> tuple[Path, Path]:
    """Another gate of the site: its config file and database."""
    files = certs.issue_gate(site.directory, site.directory, site=SITE, gate=gate, now=START)
    db = root / f"{gate}.db"
    config = root / f"{gate}.toml"
    config.write_text(
        site.gate_config.read_text(encoding="utf-8")
        .replace(f'id = "{GATE}"', f'id = "{gate}"')
        .replace(str(site.gate_db), str(db))
        .replace(str(site.gate_files.cert), str(files.cert))
        .replace(str(site.gate_files.key), str(files.key)),
        encoding="utf-8",
    )
    return config, db


def passage(index: int, *, site: str = SITE, gate: str = GATE) -> NewEntry:
    return NewEntry(
        id=str(uuid.uuid4()),
        gate=gate,
        site=site,
        lane="1",
        direction=Direction.IN if index % 2 else Direction.OUT,
        occurred_at=START + timedelta(seconds=index),
        clock_synced=True,
        boot_id="9a7c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4",
        monotonic_ns=5_000_000_000_000 + index * 1_000_000,
        code_format="community-pass",
        code_check=CodeCheck.VALID,
        code_status=CodeStatus.GREEN,
        subject=f"s-{index:08d}",
        subject_label="张*华 3-2-501",
        payload_digest="ab" * 32,
        temperature_c=36.4,
        temperature_source="uvc-y16",
        remeasured=False,
        decision=Decision.ADMIT,
        reasons=("ok",),
    )


def record(path: Path, count: int, *, first: int = 0, site: str = SITE, gate: str = GATE) -> None:
    """Record `count` passages at a gate, many per transaction."""
    store = EntryStore.open(path)
    try:
        for start in range(first, first + count, 2000):
            with store.transaction() as session:
                for index in range(start, min(first + count, start + 2000)):
                    entry_access.add_entry(session, entry=passage(index, site=site, gate=gate))
    finally:
        store.close()
