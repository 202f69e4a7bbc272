"""`checkpoint bundle ...` as a property manager uses it: real processes, files, databases."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest
from sqlmodel import Session

from gateway.storage.store import EntryStore
from harness.broker import Broker
from harness.sync import RunningPublisher, collected_ids
from harness.waiting import wait_until
from sync.collector import Collector, collector_client
from sync.collector_store import create_collector_engine, entry_count
from sync.mqtt import MqttSettings
from sync.topics import Topics
from tests.support.handcarry import GATE, SITE, Site, add_gate, make_site, record

REPO = Path(__file__).resolve().parents[1]


def checkpoint(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def killed(*args: str | Path, after_s: float) -> int:
    """Start a command and SIGKILL it after `after_s` seconds; its exit code (-9 if killed)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return process.wait(after_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        return process.wait(30)


def backlog(site: Site) -> int:
    store = EntryStore.open(site.gate_db)
    try:
        return store.backlog().count
    finally:
        store.close()


def stored(site: Site) -> int:
    if not site.collector_db.exists():
        return 0
    engine = create_collector_engine(site.collector_url)
    try:
        with Session(engine) as session:
            return entry_count(session)
    finally:
        engine.dispose()


def exported_ids(database: Path, output: Path) -> set[str]:
    result = checkpoint("export", "--database", database, "--output", output)
    assert result.returncode == 0, result.stderr
    with output.open(encoding="utf-8", newline="") as file:
        return {row["id"] for row in csv.DictReader(file)}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def kill_at_every_stage(*args: str | Path, check: Callable[[], None]) -> int:
    """Run a command again and again, SIGKILLed later each time, until it finishes by itself;
    `check` after every kill. Returns how many times it was killed."""
    kills = 0
    delay = 0.3
    while killed(*args, after_s=delay) == -signal.SIGKILL:
        check()
        kills += 1
        delay += 0.1
    return kills


def whole_or_none(path: Path) -> None:
    """A file that is absent or complete: a bundle is never left half written."""
    if path.exists():
        document = cbor2.loads(path.read_bytes())
        assert document["format"] == "checkpoint-sealed/1"


def test_ten_thousand_entries_go_round_by_hand_through_killed_steps(
    tmp_path: Path, site: Site
) -> None:
    record(site.gate_db, 10_000)
    bundle = tmp_path / "stick" / "north-1.bundle"
    receipt = tmp_path / "stick" / "north-1.receipt"

    def export_killed() -> None:
        assert backlog(site) == 10_000  # exporting never settles
        whole_or_none(bundle)

    exported = kill_at_every_stage(
        "bundle", "export", "-o", bundle, "-c", site.gate_config, check=export_killed
    )
    assert exported > 2
    export_killed()
    record(site.gate_db, 50, first=10_000)  # recorded after the export

    def import_killed() -> None:
        assert stored(site) in (0, 10_000)  # all of the bundle or nothing

    importing = ("bundle", "import", bundle, "--receipt", receipt, "-c", site.collector_config)
    assert kill_at_every_stage(*importing, check=import_killed) > 2
    assert stored(site) == 10_000
    again = checkpoint(*importing)
    assert again.returncode == 0, again.stderr
    assert "nothing new stored" in again.stdout
    assert stored(site) == 10_000

    def receipt_killed() -> None:
        assert backlog(site) in (50, 10_050)  # all of the receipt settled or nothing

    settling = ("bundle", "receipt", receipt, "-c", site.gate_config)
    assert kill_at_every_stage(*settling, check=receipt_killed) > 2
    assert backlog(site) == 50  # the entries recorded after the export wait for the next trip
    assert "settled 0 of the 10000" in checkpoint(*settling).stdout

    at_gate = exported_ids(site.gate_db, tmp_path / "gate.csv")
    at_collector = exported_ids(site.collector_db, tmp_path / "collector.csv")
    assert len(at_gate) == 10_050
    assert at_collector < at_gate and len(at_collector) == 10_000
    assert set(collected_ids(site.collector_url)) == at_collector


def test_a_damaged_bundle_is_refused_in_one_line_and_stores_nothing(
    tmp_path: Path, site: Site
) -> None:
    record(site.gate_db, 30)
    bundle = tmp_path / "b.bundle"
    assert checkpoint("bundle", "export", "-o", bundle, "-c", site.gate_config).returncode == 0
    data = bundle.read_bytes()
    damaged = tmp_path / "damaged.bundle"
    damaged.write_bytes(data[:100] + bytes([data[100] ^ 0x10]) + data[101:])
    truncated = tmp_path / "truncated.bundle"
    truncated.write_bytes(data[: len(data) // 2])

    for broken in (damaged, truncated):
        result = checkpoint("bundle", "import", broken, "-c", site.collector_config)
        assert result.returncode == 1
        assert result.stderr.startswith(f"checkpoint: {broken}: refused: ")
        assert len(result.stderr.strip().splitlines()) == 1
        assert not broken.with_name(broken.name + ".receipt").exists()
    assert stored(site) == 0


def test_a_bundle_for_another_site_is_refused(tmp_path: Path, site: Site) -> None:
    elsewhere = make_site(tmp_path, site="laojie", name="elsewhere")
    record(site.gate_db, 5)
    bundle = tmp_path / "b.bundle"
    assert checkpoint("bundle", "export", "-o", bundle, "-c", site.gate_config).returncode == 0

    result = checkpoint("bundle", "import", bundle, "-c", elsewhere.collector_config)

    assert result.returncode == 1
    assert "not sealed to this certificate" in result.stderr
    assert stored(elsewhere) == 0


def test_a_receipt_for_another_gate_is_refused(tmp_path: Path, site: Site) -> None:
    south_config, south_db = add_gate(site, "south-2", tmp_path)
    record(south_db, 5, gate="south-2")
    record(site.gate_db, 5)
    bundle = tmp_path / "south.bundle"
    assert checkpoint("bundle", "export", "-o", bundle, "-c", south_config).returncode == 0
    assert checkpoint("bundle", "import", bundle, "-c", site.collector_config).returncode == 0

    result = checkpoint("bundle", "receipt", f"{bundle}.receipt", "-c", site.gate_config)

    assert result.returncode == 1
    assert "the receipt is for gate xiaojiang/south-2, this is xiaojiang/north-1" in result.stderr
    assert backlog(site) == 5


def test_export_needs_the_collector_certificate(tmp_path: Path, site: Site) -> None:
    config = tmp_path / "bare.toml"
    config.write_text(f'[storage]\npath = "{site.gate_db}"\n', encoding="utf-8")

    result = checkpoint("bundle", "export", "-o", tmp_path / "b.bundle", "-c", config)

    assert result.returncode == 1
    assert "needs [mqtt] tls_ca, tls_cert and tls_key" in result.stderr


@pytest.mark.broker
def test_when_the_network_comes_back_first_the_receipt_settles_nothing_more(
    tmp_path: Path, site: Site, broker: Broker
) -> None:
    record(site.gate_db, 300)
    bundle = tmp_path / "b.bundle"
    assert checkpoint("bundle", "export", "-o", bundle, "-c", site.gate_config).returncode == 0
    collector = Collector(
        site.collector_url, collector_client(MqttSettings(host="127.0.0.1", port=broker.port))
    )
    collector.start()
    store = EntryStore.open(site.gate_db)
    try:
        running = RunningPublisher(store, broker, Topics("checkpoint/v1", SITE, GATE)).start()
        wait_until(lambda: store.backlog().count == 0, what="the MQTT drain", timeout=30)
        running.stop()
    finally:
        store.close()
        collector.stop()

    imported = checkpoint("bundle", "import", bundle, "-c", site.collector_config)
    assert imported.returncode == 0, imported.stderr
    assert "stored 300 entries" in imported.stdout  # the bundle is new, its entries are not
    settled = checkpoint(
        "bundle", "receipt", bundle.with_name("b.bundle.receipt"), "-c", site.gate_config
    )

    assert settled.returncode == 0, settled.stderr
    assert "settled 0 of the 300 entries" in settled.stdout
    assert stored(site) == 300
    assert sorted(collected_ids(site.collector_url)) == sorted(
        set(collected_ids(site.collector_url))
    )


@pytest.mark.postgres
def test_a_bundle_is_stored_into_postgresql_like_a_batch_over_mqtt(
    tmp_path: Path, site: Site, postgres_url: str
) -> None:
    record(site.gate_db, 40)
    bundle = tmp_path / "b.bundle"
    assert checkpoint("bundle", "export", "-o", bundle, "-c", site.gate_config).returncode == 0

    first = checkpoint(
        "bundle", "import", bundle, "--database", postgres_url, "-c", site.collector_config
    )
    second = checkpoint(
        "bundle", "import", bundle, "--database", postgres_url, "-c", site.collector_config
    )

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "stored 40 entries" in first.stdout and "nothing new stored" in second.stdout
    assert len(collected_ids(postgres_url)) == 40


def status_file(tmp_path: Path, version: int, colour: str) -> Path:
    path = tmp_path / f"status-{version}.json"
    document = {
        "schema": 1,
        "version": version,
        "issued_at": "2026-11-25T06:00:00+00:00",
        "site": SITE,
        "subjects": {"s-00000001": colour},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_lists_come_back_on_the_stick_and_never_go_backwards(tmp_path: Path, site: Site) -> None:
    newer = tmp_path / "newer.lists"
    older = tmp_path / "older.lists"
    for output, version, colour in ((newer, 5, "red"), (older, 4, "green")):
        written = checkpoint(
            "bundle", "lists", "-o", output, "--status", status_file(tmp_path, version, colour),
            "-c", site.collector_config,
        )  # fmt: skip
        assert written.returncode == 0, written.stderr
    saved = site.gate_db.with_name("status.json")

    taken = checkpoint("bundle", "import-lists", newer, "-c", site.gate_config)
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.strip() == "status list: version 5 in force"
    assert '"s-00000001": "red"' in saved.read_text(encoding="utf-8")

    backwards = checkpoint("bundle", "import-lists", older, "-c", site.gate_config)
    assert backwards.returncode == 0, backwards.stderr
    assert "kept version 5: version 4 is not newer" in backwards.stdout
    assert '"s-00000001": "red"' in saved.read_text(encoding="utf-8")

    forged = tmp_path / "forged.lists"
    data = newer.read_bytes()
    forged.write_bytes(data.replace(b'"red"', b'"grn"'))
    refused = checkpoint("bundle", "import-lists", forged, "-c", site.gate_config)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"checkpoint: {forged}: refused: ")
    assert "the signature does not match" in refused.stderr
