"""`checkpoint doctor` against working and broken setups: each broken part is named."""

from __future__ import annotations

import getpass
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from devices.camera import CameraScanner
from devices.recordings import write_video
from devices.serial_scanner import SerialScanner
from devices.simulated import SimulatedThermal
from gateway.cli.ops import register
from gateway.config import load_settings
from gateway.core.values import DeviceState, Direction
from gateway.operations.bench import synthetic_frame
from gateway.operations.doctor import (
    Finding,
    Status,
    check_clock,
    check_database,
    check_scanner,
    check_sync,
    check_thermal,
    disk_status,
    exit_code,
    render,
    run_doctor,
)
from gateway.storage.store import EntryStore
from harness.broker import Broker, mosquitto_available
from harness.ports import free_port, wait_for_port
from harness.waiting import wait_until
from sync.collector import Collector, collector_client
from sync.mqtt import MqttSettings
from tests.devices.support import Pty
from tests.devices.support import wait_until as wait_for
from tests.storage.test_store import new_entry
from tests.support.gateway_process import CheckpointProcess, wait_until_serving
from tests.support.tls import make_tls_files

TIMEOUT_S = 1.0
SITE, GATE = "xiaojiang", "north-1"


def write_config(
    path: Path,
    *,
    database: Path,
    scanner: str | None = None,
    mqtt: str = "",
    web_port: int | None = None,
    kiosk: bool = True,
) -> Path:
    scanners = f'[[scanners]]\nkind = "serial"\ndevice = "{scanner}"\n' if scanner else ""
    path.write_text(
        f'[gate]\nid = "{GATE}"\nsite = "{SITE}"\n'
        f'[storage]\npath = "{database}"\n'
        f"{scanners}"
        '[thermal]\nkind = "none"\n[policy]\nno_thermal = "admit"\n'
        f'[web]\nlisten = "127.0.0.1:{web_port or free_port()}"\n'
        f"kiosk_localhost = {str(kiosk).lower()}\n"
        f"{mqtt}",
        encoding="utf-8",
    )
    return path


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.check.split(" ")[0]: finding for finding in findings}


@pytest.fixture
def pty() -> Iterator[Pty]:
    port = Pty()
    yield port
    port.unplug()


# --- config -------------------------------------------------------------------------------


def test_bad_config_is_named_and_fails(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[gate]\nid = "North 1"\n[mqtt]\nprot = 1\n')
    findings = run_doctor(config, timeout_s=TIMEOUT_S)
    assert [(f.check, f.status) for f in findings] == [("config", Status.FAIL)]
    assert "gate.id" in findings[0].detail
    assert "mqtt.prot: unknown key" in findings[0].detail
    assert exit_code(findings) == 1
    assert "checkpoint init" in render(findings)


def test_missing_config_file_fails(tmp_path: Path) -> None:
    findings = run_doctor(tmp_path / "nowhere.toml", timeout_s=TIMEOUT_S)
    assert findings[0].status is Status.FAIL
    assert "not found" in findings[0].detail


# --- a whole working gate, and broken parts -------------------------------------------------


def test_working_offline_gate_passes(tmp_path: Path, pty: Pty) -> None:
    database = tmp_path / "gateway.db"
    EntryStore.open(database).close()
    config = write_config(tmp_path / "gateway.toml", database=database, scanner=pty.path)
    findings = run_doctor(config, timeout_s=TIMEOUT_S)
    checks = by_check(findings)
    assert checks["config"].status is Status.PASS
    assert checks["scanner"].status is Status.PASS
    assert checks["thermal"].status is Status.PASS  # no thermal source, and no_thermal = admit
    assert checks["database"].status is Status.PASS
    assert "current" in checks["database"].detail
    assert checks["broker"].status is Status.PASS
    assert "offline only" in checks["broker"].detail
    assert checks["clock"].status in (Status.PASS, Status.WARN)
    assert exit_code(findings) == 0


def test_missing_serial_port_fails_and_is_named(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "gateway.toml", database=tmp_path / "g.db", scanner="/dev/ttyNOPE7"
    )
    findings = run_doctor(config, timeout_s=TIMEOUT_S)
    scanner = by_check(findings)["scanner"]
    assert scanner.status is Status.FAIL
    assert "/dev/ttyNOPE7" in scanner.detail
    assert "dialout" in scanner.advice
    assert exit_code(findings) == 1


def test_a_code_scanned_during_the_check_is_read(pty: Pty) -> None:
    scanner = SerialScanner("scanner-1", pty.path, lane="1", direction=Direction.IN)

    def show_the_test_card() -> None:
        # Only once the port is open: opening it discards what waited in it.
        if wait_for(lambda: scanner.health().state is DeviceState.UP, timeout=3.0):
            pty.write(b"CP1:TESTCARD\r")

    card = threading.Thread(target=show_the_test_card, name="test-card")
    card.start()
    finding = check_scanner(scanner, timeout_s=3.0)
    card.join()
    assert finding.status is Status.PASS
    assert "a code was read" in finding.detail


def _doctor_beside_the_service(tmp_path: Path, pty: Pty, *, kiosk: bool) -> dict[str, Finding]:
    web_port = free_port()
    config = write_config(
        tmp_path / "gateway.toml",
        database=tmp_path / "g.db",
        scanner=pty.path,
        web_port=web_port,
        kiosk=kiosk,
    )
    service = CheckpointProcess("run", config, tmp_path / "gateway.log").start()
    try:
        if kiosk:
            wait_until_serving(web_port, service)
        else:  # the status wants a sign-in: wait for the port only
            wait_for_port(web_port)
        return by_check(run_doctor(config, timeout_s=TIMEOUT_S))
    finally:
        service.stop()


def test_running_service_is_asked_instead_of_its_devices(tmp_path: Path, pty: Pty) -> None:
    checks = _doctor_beside_the_service(tmp_path, pty, kiosk=True)
    assert checks["service"].status is Status.PASS
    assert checks["device"].status is Status.PASS
    assert "running service" in checks["device"].detail
    assert "scanner" not in checks


def test_running_service_that_wants_a_sign_in_keeps_its_devices(tmp_path: Path, pty: Pty) -> None:
    checks = _doctor_beside_the_service(tmp_path, pty, kiosk=False)
    assert checks["service"].status is Status.WARN
    assert "sign-in" in checks["service"].detail
    assert "scanner" not in checks and "device" not in checks


# --- cameras and thermal sources, through the device code the service runs ----------------


def _camera(tmp_path: Path, *, with_code: bool) -> CameraScanner:
    video = tmp_path / ("card.avi" if with_code else "street.avi")
    frames = [synthetic_frame(640, 480, with_code=with_code, seed=n) for n in range(10)]
    write_video(video, frames, fps=10)
    return CameraScanner("camera-1", str(video), lane="1", direction=Direction.IN)


def test_camera_reading_the_test_card_passes(tmp_path: Path) -> None:
    finding = check_scanner(_camera(tmp_path, with_code=True), timeout_s=3.0)
    assert finding.status is Status.PASS
    assert "camera" in finding.check


def test_camera_with_frames_but_no_code_warns(tmp_path: Path) -> None:
    finding = check_scanner(_camera(tmp_path, with_code=False), timeout_s=TIMEOUT_S)
    assert finding.status is Status.WARN
    assert "frames arrive" in finding.detail
    assert "test card" in finding.advice


def test_camera_that_does_not_open_fails(tmp_path: Path) -> None:
    camera = CameraScanner(
        "camera-1", str(tmp_path / "missing.avi"), lane="1", direction=Direction.IN
    )
    finding = check_scanner(camera, timeout_s=TIMEOUT_S)
    assert finding.status is Status.FAIL
    assert "missing.avi" in finding.detail


def test_thermal_readings_in_the_plausible_range_pass() -> None:
    source = SimulatedThermal(celsius=36.6, jitter_c=0.1, period_s=0.05, seed=1)
    finding = check_thermal(source, plausible=(34.0, 43.0), timeout_s=2.0)
    assert finding.status is Status.PASS
    assert "°C" in finding.detail


def test_implausible_thermal_readings_warn() -> None:
    source = SimulatedThermal(celsius=21.0, jitter_c=0.0, period_s=0.05)
    finding = check_thermal(source, plausible=(34.0, 43.0), timeout_s=2.0)
    assert finding.status is Status.WARN
    assert "21.0" in finding.detail
    assert "offset_c" in finding.advice


# --- disk, database, clock ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "total", "status"),
    [
        (0, 100, Status.PASS),
        (79, 100, Status.PASS),
        (80, 100, Status.WARN),
        (94, 100, Status.WARN),
        (95, 100, Status.FAIL),
        (100, 100, Status.FAIL),
        (0, 0, Status.FAIL),
    ],
)
def test_disk_classification(used: int, total: int, status: Status) -> None:
    assert disk_status(used, total) is status


def test_corrupt_database_fails_and_is_named(tmp_path: Path) -> None:
    database = tmp_path / "gateway.db"
    database.write_bytes(b"this is not a database; " * 200)
    finding = check_database(database)
    assert finding.status is Status.FAIL
    assert "damaged" in finding.detail
    assert "backup" in finding.advice


def test_database_of_an_older_schema_warns_and_of_a_newer_one_fails(tmp_path: Path) -> None:
    database = tmp_path / "gateway.db"
    store = EntryStore.open(database)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    older = check_database(database)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    newer = check_database(database)
    assert older.status is Status.WARN
    assert "upgraded" in older.detail
    assert newer.status is Status.FAIL
    assert "newer checkpoint-gateway" in newer.detail


def test_database_not_created_yet_passes(tmp_path: Path) -> None:
    assert check_database(tmp_path / "gateway.db").status is Status.PASS


class _Clock:
    def __init__(self, synchronised: bool) -> None:
        self._synchronised = synchronised

    def synchronised(self) -> bool:
        return self._synchronised


def test_unsynchronised_clock_warns() -> None:
    assert check_clock(_Clock(True)).status is Status.PASS
    finding = check_clock(_Clock(False))
    assert finding.status is Status.WARN
    assert "timedatectl" in finding.advice


# --- broker and collector -------------------------------------------------------------------


def _sync_findings(tmp_path: Path, mqtt: str, *, entries: int = 0) -> dict[str, Finding]:
    database = tmp_path / "gateway.db"
    store = EntryStore.open(database)
    for _ in range(entries):
        store.record(new_entry(gate=GATE, site=SITE))
    store.close()
    config = write_config(tmp_path / "gateway.toml", database=database, mqtt=mqtt)
    return by_check(check_sync(load_settings(config), timeout_s=TIMEOUT_S))


def test_unreachable_broker_fails_and_is_named(tmp_path: Path) -> None:
    port = free_port()
    checks = _sync_findings(tmp_path, f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n')
    assert checks["broker"].status is Status.FAIL
    assert f"127.0.0.1:{port} refused the connection" in checks["broker"].detail
    assert "collector" not in checks


def test_unknown_broker_host_fails_and_is_named(tmp_path: Path) -> None:
    checks = _sync_findings(tmp_path, '[mqtt]\nhost = "broker.invalid"\nport = 1883\n')
    assert checks["broker"].status is Status.FAIL
    assert "cannot resolve 'broker.invalid'" in checks["broker"].detail


def _plain(broker: Broker) -> str:
    return f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'


@pytest.mark.broker
def test_reachable_broker_passes_and_a_gate_without_entries_cannot_probe(
    tmp_path: Path, broker: Broker
) -> None:
    checks = _sync_findings(tmp_path, _plain(broker))
    assert checks["broker"].status is Status.PASS
    assert checks["collector"].status is Status.WARN
    assert "no entry" in checks["collector"].detail


@pytest.mark.broker
def test_missing_collector_fails_the_ack_round_trip(tmp_path: Path, broker: Broker) -> None:
    checks = _sync_findings(tmp_path, _plain(broker), entries=2)
    assert checks["broker"].status is Status.PASS
    assert checks["collector"].status is Status.FAIL
    assert "no acknowledgement" in checks["collector"].detail
    assert "checkpoint collector" in checks["collector"].advice


@pytest.mark.broker
def test_collector_acknowledging_the_probe_passes(tmp_path: Path, broker: Broker) -> None:
    collected = tmp_path / "collector.db"
    collector = Collector(
        f"sqlite:///{collected}", collector_client(MqttSettings(host="127.0.0.1", port=broker.port))
    )
    collector.start()
    try:
        wait_until(lambda: collector.connected, what="the collector's connection")
        checks = _sync_findings(tmp_path, _plain(broker), entries=2)
    finally:
        collector.stop()
    assert checks["collector"].status is Status.PASS
    assert "acknowledged" in checks["collector"].detail
    # The probe was an entry of this gate, stored once however often it is re-sent.
    raw = sqlite3.connect(collected)
    try:
        assert raw.execute("SELECT count(*) FROM entries").fetchone() == (1,)
    finally:
        raw.close()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (scripts/test.sh installs it)")
    files = make_tls_files(tmp_path)
    directory = tmp_path / "broker"
    directory.mkdir()
    tls = f"cafile {files.ca}\ncertfile {files.server_cert}\nkeyfile {files.server_key}\n"
    # Started as root, Mosquitto drops to user "mosquitto", which cannot read tmp_path.
    user = f"user {getpass.getuser()}\n"
    running = Broker(directory, extra_config=user + tls).start()
    yield running, files.ca
    running.stop()


@pytest.mark.broker
def test_tls_broker_with_its_ca_passes(tmp_path: Path, tls_broker: tuple[Broker, Path]) -> None:
    broker, ca = tls_broker
    mqtt = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ntls_ca = "{ca}"\n'
    checks = _sync_findings(tmp_path, mqtt)
    assert checks["broker"].status is Status.PASS
    assert "over TLS" in checks["broker"].detail


@pytest.mark.broker
def test_untrusted_broker_certificate_is_named(
    tmp_path: Path, tls_broker: tuple[Broker, Path]
) -> None:
    broker, _ = tls_broker
    (tmp_path / "other").mkdir()
    other_ca = make_tls_files(tmp_path / "other").ca
    mqtt = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ntls_ca = "{other_ca}"\n'
    checks = _sync_findings(tmp_path, mqtt)
    assert checks["broker"].status is Status.FAIL
    assert "TLS: the certificate of" in checks["broker"].detail
    assert "tls_ca" in checks["broker"].advice


@pytest.mark.broker
def test_tls_to_a_plain_port_is_named(tmp_path: Path, broker: Broker) -> None:
    ca = make_tls_files(tmp_path).ca
    mqtt = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ntls_ca = "{ca}"\n'
    checks = _sync_findings(tmp_path, mqtt)
    assert checks["broker"].status is Status.FAIL
    assert "TLS handshake" in checks["broker"].detail


# --- the command ----------------------------------------------------------------------------


def _invoke(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_doctor_command_prints_a_table_and_exits_1_on_a_failure(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "gateway.toml", database=tmp_path / "g.db", scanner="/dev/ttyNOPE7"
    )
    code, output = _invoke("doctor", "--config", str(config), "--timeout", "0.5")
    assert code == 1
    assert output.splitlines()[0].split() == ["STATUS", "CHECK", "DETAIL"]
    assert any(line.startswith("fail") and "scanner" in line for line in output.splitlines())
    assert "failed" in output.splitlines()[-1]


def test_doctor_command_json(tmp_path: Path) -> None:
    database = tmp_path / "gateway.db"
    EntryStore.open(database).close()
    config = write_config(tmp_path / "gateway.toml", database=database)
    code, output = _invoke("doctor", "--config", str(config), "--json", "--timeout", "0.5")
    document = json.loads(output)
    assert code == 0
    assert document["ok"] is True
    assert {f["check"] for f in document["findings"]} >= {"config", "disk", "database", "broker"}
