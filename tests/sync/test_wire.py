from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from gateway.core.entry_schema import wire_json
from gateway.core.values import Backlog, DeviceHealth, DeviceState, Entry, Override
from gateway.storage.store import EntryStore
from sync.batch import batch_overhead, decode_batch, encode_batch
from sync.wire import (
    SCHEMA_NAMES,
    GatewayState,
    SendClock,
    WireError,
    decode_ack,
    decode_state,
    encode_ack,
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
        assert datetime.fromisoformat(wire.occurred_at) == entry.occurred_at
        assert json.loads(msgspec.json.encode(wire)) == json.loads(wire_json(entry))
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
    envelope = len(payload) - len(b",".join(wire_json(entry) for entry in entries))
    assert envelope <= batch_overhead(site=SITE, gate=GATE, boot_id=clock.boot_id)
    for half in ("boot_id", "sent_monotonic_ns"):
        broken = {key: value for key, value in document.items() if key != half}
        assert not validator("entries").is_valid(broken)
        with pytest.raises(WireError, match="go together"):
            decode_batch(json.dumps(broken).encode())


BAD_ENVELOPES: dict[str, Callable[[Document], None]] = {
    "schema version": lambda d: d.update(schema=2),
    "no entries": lambda d: d.update(entries=[]),
    "extra top-level field": lambda d: d.update(extra=1),
    "missing sent_at": lambda d: d.pop("sent_at"),
    "naive sent_at": lambda d: d.update(sent_at="2024-05-01T09:00:00"),
    "spaced sent_at": lambda d: d.update(sent_at="2024-05-01 09:00:00+00:00"),
    "gate not a slug": lambda d: d.update(gate="North 1"),
    "negative monotonic time": lambda d: d.update(boot_id="b", sent_monotonic_ns=-1),
    "empty boot id": lambda d: d.update(boot_id="", sent_monotonic_ns=1),
    "entries not a list": lambda d: d.update(entries={"a": 1}),
}


@pytest.mark.parametrize("breakage", BAD_ENVELOPES.values(), ids=BAD_ENVELOPES.keys())
def test_broken_envelopes_are_rejected_by_schema_and_decoder_alike(
    batch: Document, breakage: Callable[[Document], None]
) -> None:
    broken = copy.deepcopy(batch)
    breakage(broken)

    assert not validator("entries").is_valid(broken)
    with pytest.raises(WireError, match="invalid entries batch"):
        decode_batch(json.dumps(broken).encode())


BAD_ENTRIES: dict[str, tuple[str, Callable[[Document], None]]] = {
    "missing entry field": ("entries.1: ", lambda e: e.pop("subject")),
    "extra entry field": ("raw_payload", lambda e: e.update(raw_payload="x")),
    "bad direction": ("entries.1.direction", lambda e: e.update(direction="sideways")),
    "bad decision": ("entries.1.decision", lambda e: e.update(decision="maybe")),
    "bad code check": ("entries.1.code_check", lambda e: e.update(code_check="fine")),
    "seq as string": ("entries.1.seq", lambda e: e.update(seq="1")),
    "seq zero": ("entries.1.seq", lambda e: e.update(seq=0)),
    "bool as string": ("entries.1.clock_synced", lambda e: e.update(clock_synced="yes")),
    "temperature as string": ("entries.1.temperature_c", lambda e: e.update(temperature_c="36")),
    "spaced occurred_at": (
        "entries.1.occurred_at", lambda e: e.update(occurred_at="2024-05-01 09:00:00Z")
    ),
    "bad digest": ("entries.1.payload_digest", lambda e: e.update(payload_digest="1234")),
    "reasons not a list": ("entries.1.reasons", lambda e: e.update(reasons="ok")),
    "override with extra": (
        "entries.1.override", lambda e: e.update(override={"by": "a", "reason": "b", "x": 1})
    ),
    "empty lane": ("entries.1.lane", lambda e: e.update(lane="")),
    "negative revision": ("entries.1.revision", lambda e: e.update(revision=-1)),
    "revision as string": ("entries.1.revision", lambda e: e.update(revision="2")),
    "revision past 32 bits": ("entries.1.revision", lambda e: e.update(revision=2**31)),
    "monotonic time past 64 bits": (
        "entries.1.monotonic_ns", lambda e: e.update(monotonic_ns=2**63)
    ),
}  # fmt: skip


@pytest.mark.parametrize("where, breakage", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_a_broken_entry_is_refused_alone_with_the_reason(
    batch: Document, where: str, breakage: Callable[[Document], None]
) -> None:
    broken = copy.deepcopy(batch)
    breakage(broken["entries"][1])

    assert not validator("entries").is_valid(broken)
    decoded = decode_batch(json.dumps(broken).encode())

    good = [entry["id"] for i, entry in enumerate(batch["entries"]) if i != 1]
    assert decoded.ids == good
    (refused,) = decoded.refused
    assert refused.index == 1 and where in refused.reason
    assert json.loads(refused.raw) == broken["entries"][1]
    assert (refused.id, refused.revision) == (batch["entries"][1]["id"], 0) or "revision" in where


@pytest.mark.parametrize("field", ["subject_label", "lane", "reasons", "override"])
def test_an_entry_with_a_nul_character_is_refused_as_no_database_keeps_it(
    batch: Document, field: str
) -> None:
    nul = "张\x00华"
    values = {"reasons": [nul], "override": {"by": nul, "reason": "x"}}
    batch["entries"][0][field] = values.get(field, nul)
    batch["entries"][1]["subject_label"] = "a literal \\u0000 is only text"

    decoded = decode_batch(json.dumps(batch).encode())

    (refused,) = decoded.refused
    assert refused.index == 0 and "NUL" in refused.reason and "张" not in refused.reason
    assert decoded.ids == [entry["id"] for entry in batch["entries"][1:]]


def test_an_entry_with_a_number_past_a_floats_range_is_refused_as_no_column_keeps_it(
    batch: Document,
) -> None:
    batch["entries"][0]["temperature_c"] = 36.123456789
    payload = json.dumps(batch).encode().replace(b"36.123456789", b"1e400")

    decoded = decode_batch(payload)

    (refused,) = decoded.refused
    assert refused.index == 0 and "entries.0.temperature_c: Number out of range" in refused.reason
    assert decoded.ids == [entry["id"] for entry in batch["entries"][1:]]


def test_a_refused_entry_without_a_readable_id_cannot_be_named(batch: Document) -> None:
    batch["entries"][0]["id"] = "not-a-uuid"

    (refused,) = decode_batch(json.dumps(batch).encode()).refused

    assert refused.id is None and "entries.0.id" in refused.reason


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
    batch["entries"][1]["direction"] = "王*明"
    batch["sent_at"] = "王*明"

    with pytest.raises(WireError) as caught:
        decode_batch(json.dumps(batch, ensure_ascii=False).encode())
    del batch["sent_at"]
    batch["sent_at"] = SENT_AT.isoformat()
    refused = decode_batch(json.dumps(batch, ensure_ascii=False).encode()).refused

    assert "sent_at" in str(caught.value) and "王" not in str(caught.value)
    assert [r.reason.split(":")[0] for r in refused] == [
        "entries.0.subject_label",
        "entries.1.direction",
    ]
    assert not any("王" in r.reason for r in refused)


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
