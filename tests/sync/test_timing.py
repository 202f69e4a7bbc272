from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from gateway.core.values import Entry
from gateway.storage.store import EntryStore
from sync.batch import EntriesBatch, WireEntry, decode_batch, encode_batch
from sync.timing import corrected_time
from sync.wire import SendClock
from tests.sync.conftest import GATE, SITE, new_entry

BOOT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"  # the boot of conftest's entries
RECEIVED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECOND = 1_000_000_000


@pytest.fixture
def entry(tmp_path: Path) -> Entry:
    """An entry taken at monotonic 10 s by a clock that said 1970-01-01 00:00:10."""
    store = EntryStore.open(tmp_path / "gateway.db")
    try:
        unsynced = new_entry(0)
        object.__setattr__(unsynced, "clock_synced", False)
        object.__setattr__(unsynced, "monotonic_ns", 10 * SECOND)
        object.__setattr__(unsynced, "occurred_at", datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC))
        return store.record(unsynced)
    finally:
        store.close()


def batch(entry: Entry, *, sent_at: datetime, clock: SendClock | None) -> EntriesBatch:
    return decode_batch(
        encode_batch(site=SITE, gate=GATE, entries=[entry], sent_at=sent_at, clock=clock)
    )


def only(received: EntriesBatch) -> WireEntry:
    (wire,) = received.entries
    return wire


def test_same_boot_uses_the_monotonic_interval_whatever_the_wall_clock_did(entry: Entry) -> None:
    # Sent 50 s after the entry, by a clock that had meanwhile been set to 2031.
    sent = batch(
        entry,
        sent_at=datetime(2031, 6, 1, tzinfo=UTC),
        clock=SendClock(boot_id=BOOT, monotonic_ns=60 * SECOND),
    )

    assert corrected_time(only(sent), sent, RECEIVED) == RECEIVED - timedelta(seconds=50)


def test_without_monotonic_time_the_wall_clock_offset_of_the_batch_is_used(entry: Entry) -> None:
    # The gate's clock was 100 s behind... and 1970: the offset carries over to the entry.
    sent_at = datetime(1970, 1, 1, 0, 1, 0, tzinfo=UTC)
    for clock in (None, SendClock(boot_id="another-boot", monotonic_ns=5 * SECOND)):
        sent = batch(entry, sent_at=sent_at, clock=clock)

        assert corrected_time(only(sent), sent, RECEIVED) == RECEIVED - timedelta(seconds=50)


def test_a_monotonic_time_before_the_entry_is_not_trusted(entry: Entry) -> None:
    sent = batch(
        entry,
        sent_at=datetime(1970, 1, 1, 0, 1, 0, tzinfo=UTC),
        clock=SendClock(boot_id=BOOT, monotonic_ns=SECOND),
    )

    assert corrected_time(only(sent), sent, RECEIVED) == RECEIVED - timedelta(seconds=50)


def test_synchronised_entries_need_no_correction(entry: Entry) -> None:
    sent = batch(entry, sent_at=RECEIVED, clock=None)
    synced = msgspec.structs.replace(only(sent), clock_synced=True)

    assert corrected_time(synced, sent, RECEIVED) is None


def test_absurd_times_are_left_uncorrected(entry: Entry) -> None:
    document = json.loads(encode_batch(site=SITE, gate=GATE, entries=[entry], sent_at=RECEIVED))
    document["entries"][0]["occurred_at"] = "0001-01-01T00:00:00+00:00"
    document["sent_at"] = "9999-01-01T00:00:00+00:00"
    sent = decode_batch(json.dumps(document).encode())
    document |= {"boot_id": BOOT, "sent_monotonic_ns": 10**30}
    far = decode_batch(json.dumps(document).encode())

    assert corrected_time(only(sent), sent, RECEIVED) is None
    assert corrected_time(only(far), far, RECEIVED) is None
