"""Who went in and out: the lookups on a collector database (SQLite and PostgreSQL, several
gates) and on a gateway database (its own gate), and `checkpoint trace | contacts | absent`."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory
from gateway.core.values import CodeStatus, Decision, Direction, Entry, NewEntry
from gateway.storage.access_db import AccessDatabase
from gateway.storage.audit import recent_audit
from gateway.storage.lookups import Lookups
from gateway.storage.records import database_url
from gateway.storage.store import EntryStore
from sync.batch import decode_batch, encode_batch
from sync.collector_store import (
    ReceivedBatch,
    create_collector_engine,
    create_tables,
    entry_key,
    store_batches,
)
from tests.sync.conftest import new_entry

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=2)
SITE = "lotus"
# (subject, label, gate, minutes after T0, direction, fever)
PASSAGES = [
    ("alice", "王*明 5-1-302", "north-1", 0, "in", False),
    ("bob", "李*华 2-1-101", "north-1", 4, "in", False),  # 4 min from alice
    ("carol", "赵*丽 7-2-201", "north-1", 9, "out", True),  # 9 min, with fever
    ("dave", "钱*伟 1-1-101", "north-1", 30, "in", False),  # too far from alice
    ("bob", "李*华 2-1-101", "south-2", 61, "out", False),  # 1 min from alice, other gate
    ("alice", "王*明 5-1-302", "south-2", 60, "out", False),
    ("erin", "孙*芳 3-3-303", "north-1", 60, "in", False),  # same time, other gate
    ("alice", "王*明 5-1-302", "north-1", 180, "in", False),
]
REPO = Path(__file__).resolve().parents[1]
OLD = [("frank", "周*强 9-9-909", "north-1", -7 * 24 * 60, "in", False)]


def entry(index: int, subject: str, label: str, gate: str, minutes: int, way: str) -> NewEntry:
    return dataclasses.replace(
        new_entry(index, site=SITE, gate=gate),
        subject=subject,
        subject_label=label,
        direction=Direction(way),
        occurred_at=T0 + timedelta(minutes=minutes),
    )


def passages() -> list[tuple[NewEntry, bool]]:
    return [(entry(i, *row[:5]), row[5]) for i, row in enumerate(PASSAGES + OLD)]  # (entry, fever)


def with_fever(new: NewEntry, fever: bool) -> NewEntry:
    if not fever:
        return new
    return dataclasses.replace(new, temperature_c=38.6, decision=Decision.DENY, reasons=("fever",))


def fill_collector(url: str) -> str:
    """A collector database holding `PASSAGES` and `OLD` of two gates; its URL."""
    engine = create_collector_engine(url)
    create_tables(engine)
    by_gate: dict[str, list[Entry]] = {}
    for seq, (new, fever) in enumerate(passages(), start=1):
        recorded = Entry(**_fields(with_fever(new, fever)), seq=seq)
        by_gate.setdefault(recorded.gate, []).append(recorded)
    batches = [
        ReceivedBatch(
            decode_batch(encode_batch(site=SITE, gate=gate, entries=entries, sent_at=NOW)), NOW
        )
        for gate, entries in by_gate.items()
    ]
    with Session(engine) as session, session.begin():
        store_batches(session, batches, key=entry_key(engine))
    engine.dispose()
    return database_url(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def collector_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return fill_collector(f"sqlite:///{tmp_path / 'collector.db'}")
    return fill_collector(request.getfixturevalue("postgres_url"))


def checkpoint(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fields(new: NewEntry) -> dict[str, object]:
    return {f.name: getattr(new, f.name) for f in dataclasses.fields(new)}


def test_a_persons_passages_across_gates_in_time_order(collector_url: str) -> None:
    lookups = Lookups(collector_url)
    try:
        found = lookups.trace("alice", T0 - timedelta(days=1), NOW)
        later = lookups.trace("alice", T0 + timedelta(minutes=1), NOW)
    finally:
        lookups.close()

    assert [(p.gate, p.direction) for p in found] == [
        ("north-1", "in"),
        ("south-2", "out"),
        ("north-1", "in"),
    ]
    assert found[0].occurred_at == T0 and found[0].label == "王*明 5-1-302"
    assert len(later) == 2


def test_contacts_are_those_near_in_time_at_the_same_gate_with_fever_flagged(
    collector_url: str,
) -> None:
    lookups = Lookups(collector_url)
    try:
        found = lookups.contacts("alice", T0 - timedelta(days=1), NOW, window_min=10)
        narrow = lookups.contacts("alice", T0 - timedelta(days=1), NOW, window_min=5)
    finally:
        lookups.close()

    by_person = {c.subject: c for c in found}
    assert set(by_person) == {"bob", "carol"}  # dave is 30 min away, erin at another gate
    assert (by_person["bob"].shared, by_person["bob"].closest_s) == (2, 60.0)
    assert (by_person["carol"].fever, by_person["bob"].fever) == (True, False)
    assert by_person["carol"].label == "赵*丽 7-2-201"
    assert found[0].subject == "bob"  # most shared passages first
    assert {c.subject for c in narrow} == {"bob"}


def test_absent_are_those_not_seen_for_days_and_those_last_seen_going_out(
    collector_url: str,
) -> None:
    lookups = Lookups(collector_url)
    try:
        found = lookups.absent(days=3, now=NOW)
    finally:
        lookups.close()

    assert [(a.subject, a.why) for a in found] == [
        ("frank", "not-seen"),
        ("carol", "out"),
        ("bob", "out"),
    ]
    assert found[0].label == "周*强 9-9-909" and found[0].gate == "north-1"


def test_a_gateway_database_answers_for_its_own_gate(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "gateway.db")
    try:
        for new, fever in passages():
            if new.gate == "north-1":
                store.record(with_fever(new, fever))
    finally:
        store.close()

    lookups = Lookups(database_url(tmp_path / "gateway.db"))
    try:
        contacts = lookups.contacts("alice", T0 - timedelta(days=1), NOW)
        trace = lookups.trace("alice", T0 - timedelta(days=1), NOW)
        absent = lookups.absent(days=3, now=NOW)
    finally:
        lookups.close()

    assert {c.subject: c.shared for c in contacts} == {"bob": 1, "carol": 1}
    assert [p.gate for p in trace] == ["north-1", "north-1"]
    assert [(a.subject, a.why) for a in absent] == [("frank", "not-seen"), ("carol", "out")]


def test_trace_by_code_needs_a_reason_and_is_audited_without_the_code(
    collector_url: str, tmp_path: Path
) -> None:
    keys = KeyDirectory.create(
        tmp_path / "keys", issuer="lotus-office", site=SITE, alg=Algorithm.ES256, now=NOW
    )
    signing = keys.signing_key()
    code = issue_pass(
        signing_key=signing.private_key,
        kid=signing.kid,
        issuer=signing.issuer,
        subject="alice",  # the pseudonym the pass carries
        label="王*明",
        unit="5-1-302",
        colour=CodeStatus.GREEN,
        issued_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=30),
    )
    common = ["--database", collector_url, "--from", str((T0 - timedelta(days=1)).date())]

    refused = checkpoint("trace", "--code", code, "--reason", " ", *common)
    shown = checkpoint(
        "trace", "--code", code, "--reason", "fever case 12", "--by", "manager-li", *common,
        "--trust", keys.trust_list_path,
    )  # fmt: skip

    assert refused.returncode == 2 and "--reason is required" in refused.stderr
    assert shown.returncode == 0, shown.stdout
    assert shown.stdout.count("north-1") == 2 and "south-2" in shown.stdout
    database = AccessDatabase.open(collector_url)
    try:
        with database.transaction() as session:
            (record,) = recent_audit(session, limit=10, action="trace")
    finally:
        database.close()
    assert record.actor == "manager-li" and record.role == "manager"
    assert record.detail.startswith("alice ") and "reason: fever case 12" in record.detail
    assert code not in record.detail


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_each_list_exports_with_masked_labels_only(
    collector_url: str, tmp_path: Path, fmt: str
) -> None:
    output = tmp_path / f"contacts.{fmt}"
    result = checkpoint(
        "contacts", "--subject", "alice", "--reason", "case 12", "--window-min", "10",
        "--from", (T0 - timedelta(days=1)).date(), "--database", collector_url,
        "--format", fmt, "--output", output,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    if fmt == "csv":
        with output.open(encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    else:
        sheet = load_workbook(output, read_only=True).active
        header, *values = [list(row) for row in sheet.iter_rows(values_only=True)]
        rows = [dict(zip(header, [str(v) for v in row], strict=True)) for row in values]
    assert [row["label"] for row in rows] == ["李*华 2-1-101", "赵*丽 7-2-201"]
    assert list(rows[0]) == ["label", "shared", "closest_s", "fever", "entry_id"]
    assert not any("bob" in value or "carol" in value for row in rows for value in row.values())


def test_absent_on_the_command_line_and_bad_input_are_clear_errors(
    collector_url: str, tmp_path: Path
) -> None:
    shown = checkpoint("absent", "--days", "3", "--database", collector_url)
    both = checkpoint("trace", "--code", "x", "--subject", "y", "--reason", "r", "--database", "z")
    missing = checkpoint(
        "trace", "--subject", "y", "--reason", "r", "--database", tmp_path / "no.db"
    )
    bad_day = checkpoint(
        "trace", "--subject", "y", "--reason", "r", "--from", "soon", "--database", "z"
    )

    assert shown.returncode == 0 and "周*强 9-9-909" in shown.stdout and "not-seen" in shown.stdout
    assert "frank" not in shown.stdout  # masked labels, no pseudonyms
    assert both.returncode == 2 and "exactly one of --code, --subject and --entry" in both.stderr
    assert missing.returncode == 1 and "no entries table" in missing.stderr
    assert bad_day.returncode == 2 and "not a date" in bad_day.stderr
