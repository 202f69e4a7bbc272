from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlmodel import Session
from typer.testing import CliRunner, Result

from gateway.cli.sync import gate_table, register
from gateway.operations import certs
from sync.collector_store import (
    GateState,
    create_collector_engine,
    create_tables,
    save_state,
)
from sync.wire import decode_state

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def invoke(*args: str | Path) -> Result:
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture
def collector_db(tmp_path: Path) -> Path:
    path = tmp_path / "collector.db"
    engine = create_collector_engine(f"sqlite:///{path}")
    create_tables(engine)
    online = (
        b'{"state": "online", "version": "0.1.0", "backlog": 12, '
        b'"oldest_unsynced": "2025-03-01T07:00:00+00:00", "devices": {}}'
    )
    now = datetime.now(UTC)
    try:
        with Session(engine) as session, session.begin():
            save_state(
                session, site="xj", gate="south-2", message=decode_state(online), seen_at=now
            )
            save_state(
                session,
                site="xj",
                gate="north-1",
                message=decode_state(b'{"state": "offline"}'),
                seen_at=now - timedelta(hours=3),
            )
    finally:
        engine.dispose()
    return path


def test_gates_prints_each_gate_from_the_collector_database(collector_db: Path) -> None:
    result = invoke("gates", "--database", collector_db)

    assert result.exit_code == 0, result.output
    header, north, south = result.output.splitlines()
    assert header.startswith("SITE  GATE     STATE    LAST SEEN")
    assert header.endswith("BACKLOG  OLDEST UNSYNCED       VERSION")
    assert north.split()[:3] == ["xj", "north-1", "offline"]
    assert "(3 h ago)" in north
    assert south.split()[:3] == ["xj", "south-2", "online"]
    assert south.split()[-4:] == ["12", "2025-03-01", "07:00:00Z", "0.1.0"]


def test_gates_reads_the_database_named_in_the_config(collector_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[collector]\ndatabase = "sqlite:///{collector_db}"\n')

    result = invoke("gates", "--config", config)

    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 3


def test_gates_without_reports_or_without_a_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    create_tables(create_collector_engine(f"sqlite:///{empty}"))

    assert invoke("gates", "--database", empty).output == "no gate has reported yet\n"
    broken = invoke("gates", "--database", "postgresql://nobody@127.0.0.1:1/none")
    assert broken.exit_code == 1
    assert "cannot read the gates" in broken.output
    assert invoke("gates", "--config", tmp_path / "missing.toml").exit_code == 2


def test_a_gate_online_but_unheard_for_long_shows_as_silent() -> None:
    rows = [
        GateState(site="s", gate="a", state="online", last_seen=NOW - timedelta(seconds=30)),
        GateState(site="s", gate="b", state="online", last_seen=NOW - timedelta(minutes=5)),
        GateState(site="s", gate="c", state="online", last_seen=None),
    ]

    lines = gate_table(rows, now=NOW)

    assert [line.split()[2] for line in lines[1:]] == ["online", "silent", "silent"]
    assert "(30 s ago)" in lines[1] and "(5 min ago)" in lines[2] and "never" in lines[3]


def test_certs_commands_build_a_site_pki(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    acl = tmp_path / "checkpoint.acl"
    acl.write_text("# gates\n")

    steps = [
        ("certs", "ca", "--dir", pki, "--site", "xj"),
        ("certs", "gate", "--dir", pki, "--site", "xj", "--gate", "north-1", "--acl", acl),
        ("certs", "collector", "--dir", pki, "--name", "c1", "--out", tmp_path / "c"),
        ("certs", "server", "--dir", pki),
        ("certs", "bridge", "--dir", pki, "--name", "north"),
        ("certs", "broker", "--dir", pki, "--host", "mqtt.example.org", "--host", "127.0.0.1"),
    ]
    outputs = []
    for step in steps:
        result = invoke(*step)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)

    assert "CN 'xj/north-1'" in outputs[1]
    assert f"{acl}: added the lines for xj/north-1" in outputs[1]
    assert "user xj/north-1\n" in acl.read_text()
    assert certs.common_name(tmp_path / "c" / "collector-c1.crt") == "collector"
    assert certs.common_name(pki / "community-server.crt") == "community-server"
    assert certs.common_name(pki / "bridge-north.crt") == "bridge-north"
    assert certs.common_name(pki / "broker.crt") == "mqtt.example.org"


def test_certs_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    no_ca = invoke("certs", "gate", "--dir", tmp_path, "--site", "xj", "--gate", "g")
    bad_name = invoke("certs", "ca", "--dir", tmp_path, "--site", "Xiao Jiang")

    assert no_ca.exit_code == 1 and "checkpoint certs ca" in no_ca.output
    assert bad_name.exit_code == 1 and "not a slug" in bad_name.output
    assert invoke("certs", "gate", "--dir", tmp_path).exit_code == 2  # missing options
