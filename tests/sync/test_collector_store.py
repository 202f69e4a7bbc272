"""The collector's tables on SQLite and PostgreSQL, including the table partitioned by day."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, Row, select, text
from sqlmodel import Session

from gateway.core.entry_schema import from_columns
from gateway.core.values import Decision, Entry, Override
from gateway.storage.store import EntryStore
from sync.batch import decode_batch, encode_batch
from sync.collector_store import (
    ENTRIES as COLLECTED,
)
from sync.collector_store import (
    LAST_PASSAGES,
    REFUSED,
    ReceivedBatch,
    create_collector_engine,
    create_tables,
    entry_key,
    gate_states,
    save_state,
    store_batches,
)
from sync.wire import SendClock, decode_state
from tests.sync.conftest import GATE, SITE, new_entry

PARTITIONED = Path(__file__).resolve().parents[2] / "deploy" / "postgresql" / "entries_by_day.sql"
RECEIVED = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'collector.db'}"
    postgres_url: str = request.getfixturevalue("postgres_url")
    return postgres_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    created = create_collector_engine(url)
    create_tables(created)
    yield created
    created.dispose()


@pytest.fixture
def entries(tmp_path: Path) -> list[Entry]:
    """Two entries as a real gate takes them: monotonic times far past 2**31 ns."""
    store = EntryStore.open(tmp_path / "gateway.db")
    try:
        taken = []
        for index in range(2):
            entry = new_entry(index)
            object.__setattr__(entry, "monotonic_ns", 987_654_321_000_000 + index)
            object.__setattr__(entry, "occurred_at", datetime.now(UTC) - timedelta(minutes=5))
            taken.append(store.record(entry))
        return taken
    finally:
        store.close()


def save(engine: Engine, batch: list[Entry], *, received_at: datetime = RECEIVED) -> None:
    payload = encode_batch(
        site=SITE,
        gate=GATE,
        entries=batch,
        sent_at=received_at,
        clock=SendClock(boot_id="b", monotonic_ns=1),
    )
    with Session(engine) as session, session.begin():
        store_batches(
            session, [ReceivedBatch(decode_batch(payload), received_at)], key=entry_key(engine)
        )


def utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the collector stores UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stored(engine: Engine) -> list[Row[Any]]:
    with Session(engine) as session:
        query = select(COLLECTED).order_by(COLLECTED.c.seq)
        return list(session.execute(query))


def test_every_field_is_stored_as_the_gate_recorded_it(
    engine: Engine, entries: list[Entry]
) -> None:
    first, second = entries
    guarded = dataclasses.replace(
        first,
        revision=3,
        decision=Decision.DENY,
        reasons=("fever", "remeasured"),
        temperature_c=37.85,
        remeasured=True,
        override=Override(by="王*明", reason='体温复测 "高"'),
        confirmed_by="李",
        subject_label="张*华 3-2-501",
    )

    save(engine, [guarded, second])

    assert [from_columns(row._mapping) for row in stored(engine)] == [guarded, second]


def test_a_resent_batch_changes_nothing_and_a_later_revision_updates_the_decision(
    engine: Engine, entries: list[Entry]
) -> None:
    save(engine, entries)
    save(engine, entries, received_at=RECEIVED + timedelta(minutes=1))
    overridden = dataclasses.replace(
        entries[0],
        revision=1,
        decision=Decision.DENY,
        reasons=("override",),
        override=Override(by="guard-2", reason="known to the guard"),
    )
    save(engine, [overridden], received_at=RECEIVED + timedelta(minutes=2))
    save(engine, [entries[0]], received_at=RECEIVED + timedelta(minutes=3))  # a stale resend

    first, second = stored(engine)
    assert (first.id, second.id) == (entries[0].id, entries[1].id)
    assert (first.revision, first.decision, first.override_by) == (1, "deny", "guard-2")
    assert first.reasons == ["override"]
    assert (second.revision, second.decision) == (0, "admit")
    # What the gate recorded first and when the collector first had it never change.
    assert first.monotonic_ns == entries[0].monotonic_ns
    assert utc(first.received_at) == utc(second.received_at) == RECEIVED


@pytest.mark.postgres
def test_the_partitioned_table_from_deploy_takes_entries_once_into_their_days(
    postgres_url: str, entries: list[Entry]
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(PARTITIONED.read_bytes())
    engine = create_collector_engine(postgres_url)
    try:
        create_tables(engine)
        assert entry_key(engine) == ("id", "occurred_at")
        in_1970 = dataclasses.replace(
            entries[1], occurred_at=datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC)
        )
        save(engine, [entries[0], in_1970])
        save(engine, [entries[0], in_1970])
        save(engine, [dataclasses.replace(in_1970, revision=2, decision=Decision.REFER)])

        with engine.connect() as connection:
            query = text("SELECT id, tableoid::regclass::text FROM entries")
            places: dict[str, str] = {row[0]: row[1] for row in connection.execute(query)}
            connection.execute(text("SELECT entries_add_days(current_date, 3)"))
        rows = stored(engine)
    finally:
        engine.dispose()

    today = entries[0].occurred_at.strftime("entries_%Y_%m_%d")
    assert places == {entries[0].id: today, in_1970.id: "entries_default"}
    assert [(row.id, row.revision, row.decision) for row in rows] == [
        (entries[0].id, 0, "admit"),
        (in_1970.id, 2, "refer"),
    ]


@pytest.mark.postgres
def test_collectors_starting_together_create_the_tables_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def create() -> None:
        engine = create_collector_engine(postgres_url)
        try:
            start.wait()
            create_tables(engine)
        except BaseException as error:  # noqa: BLE001 - a thread's error, asserted on below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    engine = create_collector_engine(postgres_url)
    try:
        assert stored(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_collectors_recording_the_same_gate_state_at_once_do_not_collide(
    postgres_url: str,
) -> None:
    # State topics are not shared: every collector stores every gate's state.
    engine = create_collector_engine(postgres_url)
    create_tables(engine)
    online = decode_state(
        b'{"state": "online", "version": "1", "backlog": 3, "oldest_unsynced": null, "devices": {}}'
    )
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def save_state_now() -> None:
        try:
            start.wait()
            with Session(engine) as session, session.begin():
                save_state(session, site=SITE, gate=GATE, message=online, seen_at=RECEIVED)
        except BaseException as error:  # noqa: BLE001 - a thread's error, asserted on below
            errors.append(error)

    threads = [threading.Thread(target=save_state_now) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        with Session(engine) as session:
            rows = [(g.site, g.gate, g.state, g.backlog) for g in gate_states(session)]
    finally:
        engine.dispose()

    assert errors == []
    assert rows == [(SITE, GATE, "online", 3)]


def test_a_broken_entry_is_kept_aside_and_the_good_ones_are_stored(
    engine: Engine, entries: list[Entry]
) -> None:
    document = json.loads(encode_batch(site=SITE, gate=GATE, entries=entries, sent_at=RECEIVED))
    document["entries"][0]["code_check"] = "from-a-newer-gateway"
    batch = decode_batch(json.dumps(document).encode())

    with Session(engine) as session, session.begin():
        store_batches(session, [ReceivedBatch(batch, RECEIVED)], key=entry_key(engine))

    assert [row.id for row in stored(engine)] == [entries[1].id]
    with Session(engine) as session:
        (kept,) = session.execute(select(REFUSED)).all()
    assert (kept.site, kept.gate, kept.entry_id, kept.revision) == (SITE, GATE, entries[0].id, 0)
    assert kept.reason.startswith("entries.0.code_check")
    assert json.loads(kept.payload) == document["entries"][0]


def test_an_id_sent_twice_an_older_gateways_entry_and_a_wrong_clock_are_stored_alike(
    engine: Engine, entries: list[Entry]
) -> None:
    first, second = entries
    guarded = dataclasses.replace(first, revision=1, decision=Decision.DENY, confirmed_by="王")
    unsynced = dataclasses.replace(second, clock_synced=False)
    sent_at = RECEIVED - timedelta(seconds=30)
    document = json.loads(
        encode_batch(site=SITE, gate=GATE, entries=[guarded, first, unsynced], sent_at=sent_at)
    )
    for key in ("revision", "confirmed_by"):  # an older gateway knew neither field
        del document["entries"][2][key]
    batch = decode_batch(json.dumps(document).encode())

    with Session(engine) as session, session.begin():
        store_batches(session, [ReceivedBatch(batch, RECEIVED)], key=entry_key(engine))

    one, two = stored(engine)
    assert (one.id, one.revision, one.decision, one.confirmed_by) == (first.id, 1, "deny", "王")
    assert one.corrected_at is None
    assert (two.id, two.revision, two.confirmed_by, two.clock_synced) == (second.id, 0, None, False)
    # No monotonic time of the same boot: the batch's wall-clock offset (30 s) is applied.
    assert utc(two.corrected_at) == second.occurred_at + timedelta(seconds=30)
    assert utc(two.sent_at) == sent_at and utc(two.received_at) == RECEIVED


def test_batches_stored_together_keep_their_own_times_and_the_highest_revision(
    engine: Engine, entries: list[Entry]
) -> None:
    first, second = entries
    guarded = dataclasses.replace(first, revision=2, decision=Decision.DENY)
    early, late = RECEIVED - timedelta(minutes=2), RECEIVED - timedelta(minutes=1)
    batches = [
        ReceivedBatch(
            decode_batch(encode_batch(site=SITE, gate=GATE, entries=chosen, sent_at=sent_at)),
            sent_at + timedelta(seconds=1),
        )
        for chosen, sent_at in (([guarded, second], early), ([first], late))
    ]

    with Session(engine) as session, session.begin():
        store_batches(session, batches, key=entry_key(engine))

    one, two = stored(engine)
    assert (one.id, one.revision, one.decision) == (first.id, 2, "deny")
    assert utc(one.sent_at) == early and utc(one.received_at) == early + timedelta(seconds=1)
    assert (two.id, utc(two.sent_at)) == (second.id, early)


def test_each_persons_last_passage_is_kept_and_filled_in_for_older_databases(
    engine: Engine, entries: list[Entry]
) -> None:
    first, second = entries
    later = dataclasses.replace(
        second, subject=first.subject, occurred_at=first.occurred_at + timedelta(minutes=3)
    )
    nobody = dataclasses.replace(
        second, id=str(uuid.uuid4()), seq=3, subject=None, subject_label=None
    )
    save(engine, [nobody])  # a code that names nobody: stored, no last passage
    save(engine, [later])
    save(engine, [first])  # arrives late, from before: not the last passage

    def last_passages() -> list[tuple[str, datetime]]:
        with engine.connect() as connection:
            rows = connection.execute(select(LAST_PASSAGES.c.subject, LAST_PASSAGES.c.occurred_at))
            return [(subject, utc(at)) for subject, at in rows]

    kept = last_passages()
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE last_passages"))
    create_tables(engine)  # as on a database from before the table

    assert kept == [(first.subject, later.occurred_at)]
    assert nobody.id in {row.id for row in stored(engine)}
    assert last_passages() == kept
