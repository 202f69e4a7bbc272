"""Visitors and handheld readings recorded by a guard, on a real SQLite store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from gateway.core.entry_schema import wire_json
from gateway.core.errors import ActionNotAllowedError
from gateway.core.policy import Policy
from gateway.core.values import CodeCheck, Decision, Direction, Entry
from gateway.service.checkpoint import GateIdentity
from gateway.service.events import EventBus, PassageEvent
from gateway.service.manual_entries import ManualEntries, visitor_label
from gateway.storage.store import EntryStore
from sync.batch import WireEntry
from tests.storage.test_store import new_entry
from tests.web.support import StepClock

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


class Parts:
    def __init__(self, tmp_path: Path) -> None:
        self.store = EntryStore.open(tmp_path / "g.db")
        self.bus = EventBus()
        self.recorded: list[Entry] = []
        self.changed: list[Entry] = []
        self.manual = ManualEntries(
            store=self.store,
            policy=Policy,
            identity=GateIdentity("xiaojiang", "north-1", "boot-1"),
            clock=StepClock(NOW),
            bus=self.bus,
            on_recorded=self.recorded.append,
            on_changed=self.changed.append,
        )

    def run(self, coro: object) -> tuple[object, list[PassageEvent]]:
        async def main() -> tuple[object, list[PassageEvent]]:
            async with self.bus.subscribe() as queue:
                result = await coro  # type: ignore[misc]
                events = [queue.get_nowait() for _ in range(queue.qsize())]
            return result, events

        return asyncio.run(main())


def test_a_visitor_is_recorded_masked_and_queued_for_sync(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    visitor, events = parts.run(
        parts.manual.register_visitor(
            name="王小明", phone="138-1234-5678", unit="3-2-501", reason="探亲",
            guard="guard-李", celsius=36.6,
        )
    )  # fmt: skip
    assert isinstance(visitor, Entry)
    assert visitor.subject_label == "王*明 *5678 3-2-501 · 探亲"
    assert (visitor.code_format, visitor.code_check) == ("visitor", CodeCheck.NO_CODE)
    assert visitor.subject is None and visitor.payload_digest is None
    assert (visitor.decision, visitor.temperature_c) == (Decision.ADMIT, 36.6)
    assert visitor.reasons == ("no-code", "visitor")
    assert (visitor.occurred_at, visitor.gate, visitor.direction) == (NOW, "north-1", Direction.IN)
    assert msgspec.json.decode(wire_json(visitor), type=WireEntry).lane == "guard"
    assert parts.store.get(visitor.id) == visitor
    assert [e.id for e in parts.store.pending(after_seq=0, limit=5)] == [visitor.id]
    assert [(e.entry.id, e.kind, e.recorded) for e in events] == [(visitor.id, "verdict", True)]
    assert parts.recorded == [visitor]
    stored_text = (tmp_path / "g.db").read_bytes()
    assert "王小明".encode() not in stored_text and b"13812345678" not in stored_text


def test_a_visitor_with_a_fever_is_asked_to_measure_again(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    visitor, _ = parts.run(
        parts.manual.register_visitor(
            name="Li Lei", phone="5678", unit="1-1-101", reason="delivery", guard="g", celsius=38.2
        )
    )
    assert isinstance(visitor, Entry)
    assert (visitor.decision, visitor.reasons) == (
        Decision.REFER,
        ("no-code", "fever-remeasure", "visitor"),
    )
    confirmed, _ = parts.run(parts.manual.handheld_reading(entry_id=visitor.id, celsius=38.4))
    assert isinstance(confirmed, Entry)
    assert confirmed.decision is Decision.DENY and "fever" in confirmed.reasons


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone": "12"}, "at least 4 digits"),
        ({"name": " "}, "name"),
        ({"unit": ""}, "host unit"),
        ({"reason": "x" * 41}, "reason"),
        ({"celsius": 3.7}, "body temperature"),
    ],
)
def test_a_visitor_form_with_bad_values_is_refused(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    parts = Parts(tmp_path)
    form: dict[str, object] = {
        "name": "王小明", "phone": "13812345678", "unit": "3-2-501", "reason": "探亲", "guard": "g",
    }  # fmt: skip
    with pytest.raises(ActionNotAllowedError, match=message):
        parts.run(parts.manual.register_visitor(**{**form, **fields}))  # type: ignore[arg-type]
    assert parts.store.recent(limit=5) == []


def test_a_normal_handheld_reading_clears_a_high_camera_reading(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    entry = parts.store.record(
        new_entry(decision=Decision.REFER, reasons=("fever-remeasure",), temperature_c=38.1)
    )
    parts.store.mark_synced(ids=[entry.id])
    changed, events = parts.run(parts.manual.handheld_reading(entry_id=entry.id, celsius=36.7))
    assert isinstance(changed, Entry)
    assert changed.decision is Decision.ADMIT
    assert changed.reasons == ("fever-not-confirmed", "handheld")
    assert (changed.temperature_c, changed.temperature_source) == (36.7, "handheld")
    assert changed.remeasured and changed.revision == 1
    assert [e.id for e in parts.store.pending(after_seq=0, limit=5)] == [entry.id]
    assert [(e.entry.id, e.kind) for e in events] == [(entry.id, "amended")]
    assert parts.changed == [changed] and parts.recorded == []


def test_a_handheld_reading_keeps_the_codes_verdict(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    entry = parts.store.record(
        new_entry(decision=Decision.REFER, reasons=("code-unverified", "no-temperature"),
                  code_check=CodeCheck.UNVERIFIABLE, temperature_c=None)
    )  # fmt: skip
    changed, _ = parts.run(parts.manual.handheld_reading(entry_id=entry.id, celsius=36.5))
    assert isinstance(changed, Entry)
    assert changed.decision is Decision.REFER
    assert changed.reasons == ("code-unverified", "handheld")


@pytest.mark.parametrize(
    "entry_fields",
    [
        {"decision": Decision.ADMIT, "reasons": ()},
        {"decision": Decision.REFER, "reasons": ("code-unverified",)},
    ],
)
def test_a_handheld_reading_is_only_for_temperature_referrals(
    tmp_path: Path, entry_fields: dict[str, object]
) -> None:
    parts = Parts(tmp_path)
    entry = parts.store.record(new_entry(**entry_fields))
    with pytest.raises(ActionNotAllowedError, match="temperature"):
        parts.run(parts.manual.handheld_reading(entry_id=entry.id, celsius=36.5))
    with pytest.raises(ActionNotAllowedError, match="temperature"):
        parts.run(parts.manual.ask_to_remeasure(entry_id=entry.id))
    assert parts.store.get(entry.id).revision == 0


def test_asking_to_remeasure_shows_the_prompt_without_changing_the_entry(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    entry = parts.store.record(new_entry(decision=Decision.REFER, reasons=("no-temperature",)))
    _, events = parts.run(parts.manual.ask_to_remeasure(entry_id=entry.id))
    assert [(e.entry.id, e.kind) for e in events] == [(entry.id, "remeasure")]
    assert parts.store.get(entry.id).revision == 0


def test_visitor_label_keeps_only_the_last_four_digits() -> None:
    label = visitor_label(name="张华", phone="+86 139 0000 1234", unit=" 5-1-302 ", reason="送货")
    assert label == "张* *1234 5-1-302 · 送货"
