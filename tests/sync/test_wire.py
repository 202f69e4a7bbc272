from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway.core.values import Backlog, DeviceHealth, DeviceState, Entry, Override
from gateway.storage.store import EntryStore
from sync.wire import (
    SCHEMA_NAMES,
    GatewayState,
    SendClock,
    WireError,
    batch_overhead,
    decode_ack,
    decode_batch,
    decode_state,
    encode_ack,
    encode_batch,
    encode_entry,
    encode_state,
    load_schema,
    offline_will,
)
from tests.sync.conftest import GATE, SITE, new_entry

SENT_AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

Document = dict[str, Any]


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(name))


@pytest.fixture
def entries(tmp_path: Path) -> list[Entry]:
    store = EntryStore.open(tmp_path / "gateway.db")
    try:
        recorded = [store.record(new_entry(i)) for i in range(3)]
        with_override = new_entry(3)
        object.__setattr__(with_override, "override", Override(by="guard-2", reason="known"))
        object.__setattr__(with_override, "temperature_c", None)
        recorded.append(store.record(with_override))
        return recorded
    finally:
        store.close()


@pytest.fixture
def batch(entries: list[Entry]) -> Document:
    document: Document = json.loads(
        encode_batch(site=SITE, gate=GATE, entries=entries, sent_at=SENT_AT)
    )
    return document


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)

    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_unknown_schema_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="entries"):
        load_schema("nope")


def test_a_batch_of_stored_entries_matches_the_schema_and_decodes_back(
    entries: list[Entry], batch: Document
) -> None:
    validator("entries").validate(batch)
    decoded = decode_batch(json.dumps(batch).encode())

    assert (decoded.site, decoded.gate, decoded.sent_at) == (SITE, GATE, SENT_AT)
    assert decoded.ids == [entry.id for entry in entries]
    for wire, entry in zip(decoded.entries, entries, strict=True):
        expected = json.loads(json.dumps(entry.to_wire()))
        expected |= {"revision": entry.revision, "confirmed_by": entry.confirmed_by}
        assert wire.occurred_at == entry.occurred_at
        assert wire.model_dump(mode="json", exclude={"occurred_at"}) == {
            key: value for key, value in expected.items() if key != "occurred_at"
        }
    assert decoded.entries[3].override is not None
    assert decoded.entries[3].override.by == "guard-2"


def test_every_entry_field_is_required_by_the_schema_but_the_later_ones(batch: Document) -> None:
    required = load_schema("entries")["$defs"]["entry"]["required"]

    assert set(required) == set(batch["entries"][0]) - LATER_ENTRY_FIELDS


# Fields added after the first gateways shipped: optional, so their batches stay valid.
LATER_ENTRY_FIELDS = {"revision", "confirmed_by"}


def test_batches_without_the_later_fields_still_decode(batch: Document) -> None:
    for entry in batch["entries"]:
        for name in LATER_ENTRY_FIELDS:
            entry.pop(name)

    validator("entries").validate(batch)
    decoded = decode_batch(json.dumps(batch).encode())
    assert {(e.revision, e.confirmed_by) for e in decoded.entries} == {(0, None)}
    assert decoded.boot_id is None and decoded.sent_monotonic_ns is None


def test_a_batch_can_carry_the_senders_monotonic_clock(entries: list[Entry]) -> None:
    clock = SendClock(boot_id="7c9e6679-7425-40de-944b-e07fc1f90ae7", monotonic_ns=5_000_000_000)
    payload = encode_batch(site=SITE, gate=GATE, entries=entries, sent_at=SENT_AT, clock=clock)
    document = json.loads(payload)

    validator("entries").validate(document)
    decoded = decode_batch(payload)
    assert (decoded.boot_id, decoded.sent_monotonic_ns) == (clock.boot_id, clock.monotonic_ns)
    envelope = len(payload) - len(b",".join(encode_entry(entry) for entry in entries))
    assert envelope <= batch_overhead(site=SITE, gate=GATE, boot_id=clock.boot_id)
    for half in ("boot_id", "sent_monotonic_ns"):
        broken = {key: value for key, value in document.items() if key != half}
        assert not validator("entries").is_valid(broken)
        with pytest.raises(WireError, match="go together"):
            decode_batch(json.dumps(broken).encode())


def _entry(change: Callable[[Document], None]) -> Callable[[Document], None]:
    def apply(document: Document) -> None:
        change(document["entries"][0])

    return apply


BAD_BATCHES: dict[str, Callable[[Document], None]] = {
    "schema version": lambda d: d.update(schema=2),
    "no entries": lambda d: d.update(entries=[]),
    "extra top-level field": lambda d: d.update(extra=1),
    "missing sent_at": lambda d: d.pop("sent_at"),
    "naive sent_at": lambda d: d.update(sent_at="2024-05-01T09:00:00"),
    "spaced sent_at": lambda d: d.update(sent_at="2024-05-01 09:00:00+00:00"),
    "gate not a slug": lambda d: d.update(gate="North 1"),
    "missing entry field": _entry(lambda e: e.pop("subject")),
    "extra entry field": _entry(lambda e: e.update(raw_payload="x")),
    "bad direction": _entry(lambda e: e.update(direction="sideways")),
    "bad decision": _entry(lambda e: e.update(decision="maybe")),
    "bad code check": _entry(lambda e: e.update(code_check="fine")),
    "seq as string": _entry(lambda e: e.update(seq="1")),
    "seq zero": _entry(lambda e: e.update(seq=0)),
    "bool as string": _entry(lambda e: e.update(clock_synced="yes")),
    "temperature as string": _entry(lambda e: e.update(temperature_c="36.5")),
    "bad id": _entry(lambda e: e.update(id="not-a-uuid")),
    "bad digest": _entry(lambda e: e.update(payload_digest="1234")),
    "reasons not a list": _entry(lambda e: e.update(reasons="ok")),
    "override with extra": _entry(lambda e: e.update(override={"by": "a", "reason": "b", "x": 1})),
    "empty lane": _entry(lambda e: e.update(lane="")),
    "negative revision": _entry(lambda e: e.update(revision=-1)),
    "revision as string": _entry(lambda e: e.update(revision="2")),
    "negative monotonic time": lambda d: d.update(boot_id="b", sent_monotonic_ns=-1),
    "empty boot id": lambda d: d.update(boot_id="", sent_monotonic_ns=1),
}


@pytest.mark.parametrize("breakage", BAD_BATCHES.values(), ids=BAD_BATCHES.keys())
def test_broken_batches_are_rejected_by_schema_and_decoder_alike(
    batch: Document, breakage: Callable[[Document], None]
) -> None:
    broken = copy.deepcopy(batch)
    breakage(broken)

    assert not validator("entries").is_valid(broken)
    with pytest.raises(WireError, match="invalid entries batch"):
        decode_batch(json.dumps(broken).encode())


@pytest.mark.parametrize("payload", [b"", b"not json", b"[1, 2]", b"\xff\xfe", b"null"])
def test_garbage_is_one_clear_error(payload: bytes) -> None:
    with pytest.raises(WireError, match="invalid entries batch"):
        decode_batch(payload)
    with pytest.raises(WireError, match="invalid ack"):
        decode_ack(payload)
    with pytest.raises(WireError, match="invalid state message"):
        decode_state(payload)


def test_errors_name_the_field_but_never_echo_personal_data(batch: Document) -> None:
    batch["entries"][0]["subject_label"] = ["王*明 5-1-302"]

    with pytest.raises(WireError) as caught:
        decode_batch(json.dumps(batch, ensure_ascii=False).encode())

    assert "entries.0.subject_label" in str(caught.value)
    assert "王" not in str(caught.value)


def test_a_non_finite_temperature_is_sent_as_null(entries: list[Entry]) -> None:
    feverish = entries[0]
    object.__setattr__(feverish, "temperature_c", float("nan"))

    document = json.loads(encode_batch(site=SITE, gate=GATE, entries=[feverish], sent_at=SENT_AT))

    assert document["entries"][0]["temperature_c"] is None
    validator("entries").validate(document)


def test_ack_round_trip_and_rejections(entries: list[Entry]) -> None:
    ids = [entry.id for entry in entries]
    payload = encode_ack(ids)

    validator("ack").validate(json.loads(payload))
    assert (decode_ack(payload).ids, decode_ack(payload).revisions) == (ids, None)
    revised = encode_ack(ids, range(len(ids)))
    validator("ack").validate(json.loads(revised))
    assert decode_ack(revised).revisions == list(range(len(ids)))
    for bad in (
        {"schema": 1, "ids": []},
        {"ids": ids},
        {"schema": 1, "ids": ["x"]},
        {"schema": 1, "ids": ids, "revisions": [-1] * len(ids)},
        {"schema": 1, "ids": ids, "revisions": []},
    ):
        assert not validator("ack").is_valid(bad)
        with pytest.raises(WireError):
            decode_ack(json.dumps(bad).encode())
    # The schema cannot say "as many revisions as ids"; the decoder does.
    with pytest.raises(WireError, match="one revision per id"):
        decode_ack(json.dumps({"schema": 1, "ids": ids, "revisions": [0]}).encode())


def test_state_messages_online_offline_and_will() -> None:
    state = GatewayState(
        online=True,
        version="0.1.0",
        backlog=Backlog(count=3, oldest=SENT_AT).count,
        oldest_unsynced=SENT_AT,
        devices=(
            DeviceHealth(
                name="scanner-1", kind="serial", state=DeviceState.DOWN, reason="unplugged"
            ),
        ),
    )
    online = encode_state(state)
    idle = encode_state(
        GatewayState(online=False, version="0.1.0", backlog=0, oldest_unsynced=None)
    )

    for payload in (online, idle, offline_will()):
        validator("state").validate(json.loads(payload))
    decoded = decode_state(online)
    assert decoded.state == "online" and decoded.backlog == 3
    assert decoded.devices is not None and decoded.devices["scanner-1"].state is DeviceState.DOWN
    assert decode_state(idle).oldest_unsynced is None
    will = decode_state(offline_will())
    assert will.state == "offline" and will.backlog is None


BAD_STATES: list[Document] = [
    {"state": "online"},
    {"state": "online", "version": "1", "backlog": 0, "devices": {}},
    {"state": "asleep"},
    {"state": "offline", "version": None},
    {"state": "offline", "backlog": -1},
    {"state": "offline", "devices": {"cam": {"kind": "uvc", "state": "broken", "reason": ""}}},
    {"state": "offline", "surprise": True},
]


@pytest.mark.parametrize("document", BAD_STATES)
def test_broken_states_are_rejected_by_schema_and_decoder_alike(document: Document) -> None:
    assert not validator("state").is_valid(document)
    with pytest.raises(WireError, match="invalid state message"):
        decode_state(json.dumps(document).encode())
