"""Placing entries of a gate whose wall clock cannot be trusted on the collector's clock.

A gate without NTP may think it is 1970, or jump when someone sets its clock. Its entries
carry `clock_synced` = false, the boot they were taken in and the monotonic time then; each
batch carries the sending boot and monotonic time. Within one boot the monotonic clock gives
exact intervals whatever the wall clock did, so

    corrected = received_at - (sent_monotonic_ns - entry.monotonic_ns)

where received_at is the collector's (trusted) clock when the batch arrived. The estimate is
late by the batch's transit time (milliseconds, or however long a broker held it). Entries
from an earlier boot, or batches without monotonic time, fall back to the wall-clock offset
of the batch: occurred_at + (received_at - sent_at), right as long as the gate's clock did not
jump between the entry and the sending.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sync.batch import EntriesBatch


def corrected_time(entry: Any, batch: EntriesBatch, received_at: datetime) -> datetime | None:
    """The entry's (a `WireEntry`) time on the collector's clock; None when the gate's clock
    was synchronised (or when the times are too absurd to correct)."""
    if entry.clock_synced:
        return None
    sent_ns = batch.sent_monotonic_ns
    try:
        if sent_ns is not None and batch.boot_id == entry.boot_id and sent_ns >= entry.monotonic_ns:
            return received_at - timedelta(microseconds=(sent_ns - entry.monotonic_ns) / 1000)
        return datetime.fromisoformat(entry.occurred_at) + (received_at - batch.sent_at)
    except OverflowError:
        # Times so far off that no correction fits a datetime: store the entry uncorrected.
        return None
