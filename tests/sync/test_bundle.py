"""Entries bundles, receipts and lists bundles with real certificates from a site's CA."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest
from cryptography import x509
from sqlmodel import Session

from gateway.operations import certs
from gateway.storage.store import EntryStore
from sync.bundle import (
    Lists,
    gate_name,
    pending_batches,
    read_entries_bundle,
    read_lists,
    read_receipt,
    receipt_for,
    write_entries_bundle,
    write_lists,
    write_receipt,
)
from sync.collector_store import (
    BundleConflictError,
    create_collector_engine,
    create_tables,
    entry_count,
    store_bundle,
)
from sync.sealing import Identity, SealError, load_certificate, load_identity, seal, sign
from tests.support.handcarry import GATE, SITE, make_site, record

NOW = datetime.now(UTC)


class Keys:
    """The identities of one site: its CA, a gate, a collector, the community server."""

    def __init__(self, root: Path, *, site: str = SITE, name: str = "site") -> None:
        made = make_site(root, site=site, name=name)
        self.directory = made.directory
        self.ca = load_certificate(made.directory / certs.CA_CERT)
        self.gate = load_identity(made.gate_files.cert, made.gate_files.key)
        self.collector = load_identity(made.collector_files.cert, made.collector_files.key)
        self.gate_key = made.gate_files.key
        files = certs.issue_server(made.directory, made.directory, now=NOW)
        self.server = load_identity(files.cert, files.key)
        self.gate_db = made.gate_db

    def issue_gate(self, gate: str) -> Identity:
        files = certs.issue_gate(self.directory, self.directory, site=SITE, gate=gate, now=NOW)
        return load_identity(files.cert, files.key)

    def issue_collector(self, name: str) -> Identity:
        files = certs.issue_collector(self.directory, self.directory, name=name, now=NOW)
        return load_identity(files.cert, files.key)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


@pytest.fixture
def gate_store(keys: Keys) -> Iterator[EntryStore]:
    record(keys.gate_db, 120)
    store = EntryStore.open(keys.gate_db)
    yield store
    store.close()


def bundle_of(store: EntryStore, keys: Keys, *, per_batch: int = 50) -> bytes:
    batches, _ = pending_batches(store, site=SITE, gate=GATE, now=NOW, per_batch=per_batch)
    return write_entries_bundle(
        batches,
        site=SITE,
        gate=GATE,
        identity=keys.gate,
        recipient=keys.collector.certificate,
        ca=keys.ca,
        now=NOW,
    )


def open_bundle(data: bytes, keys: Keys) -> object:
    return read_entries_bundle(data, identity=keys.collector, ca=keys.ca, now=NOW)


def test_gate_names_are_the_ones_the_site_ca_issues() -> None:
    assert gate_name(SITE, GATE) == certs.gate_identity(SITE, GATE)


def test_a_bundle_holds_every_pending_entry_in_seq_order(
    keys: Keys, gate_store: EntryStore
) -> None:
    pending = gate_store.pending(after_seq=0, limit=1000)

    bundle = read_entries_bundle(
        bundle_of(gate_store, keys), identity=keys.collector, ca=keys.ca, now=NOW
    )

    assert (bundle.site, bundle.gate, bundle.count) == (SITE, GATE, 120)
    assert [len(batch.entries) for batch in bundle.batches] == [50, 50, 20]
    assert [e.id for b in bundle.batches for e in b.entries] == [item.id for item in pending]
    assert gate_store.backlog().count == 120  # exporting settles nothing


def test_the_bundle_reveals_nothing_of_its_entries(keys: Keys, gate_store: EntryStore) -> None:
    data = bundle_of(gate_store, keys)
    entry = gate_store.pending(after_seq=0, limit=1)[0]

    assert entry.id.encode() not in data
    assert "张".encode() not in data and b"s-00000000" not in data


def test_another_collector_of_the_site_cannot_open_it(keys: Keys, gate_store: EntryStore) -> None:
    other = keys.issue_collector("two")

    with pytest.raises(SealError, match="not sealed to this certificate"):
        read_entries_bundle(bundle_of(gate_store, keys), identity=other, ca=keys.ca, now=NOW)


def test_a_bundle_from_another_sites_gate_is_refused(
    tmp_path: Path, keys: Keys, gate_store: EntryStore
) -> None:
    stranger = Keys(tmp_path, name="elsewhere")
    batches, _ = pending_batches(gate_store, site=SITE, gate=GATE, now=NOW)
    content = _content(batches, recipient=keys.collector.certificate)
    forged = seal(sign(cbor2.dumps(content), stranger.gate), keys.collector.certificate)

    with pytest.raises(SealError, match="not issued by this site's CA"):
        open_bundle(forged, keys)


def test_a_gate_cannot_send_another_gates_entries(keys: Keys, gate_store: EntryStore) -> None:
    south = keys.issue_gate("south-2")
    batches, _ = pending_batches(gate_store, site=SITE, gate=GATE, now=NOW)
    content = _content(batches, recipient=keys.collector.certificate)
    forged = seal(sign(cbor2.dumps(content), south), keys.collector.certificate)

    with pytest.raises(SealError, match="signed by 'xiaojiang/south-2'"):
        open_bundle(forged, keys)


def test_a_signature_by_another_key_is_refused(keys: Keys, gate_store: EntryStore) -> None:
    south = keys.issue_gate("south-2")
    batches, _ = pending_batches(gate_store, site=SITE, gate=GATE, now=NOW)
    signed = cbor2.loads(sign(cbor2.dumps(_content(batches, keys.collector.certificate)), south))
    signed["signer"] = cbor2.loads(sign(b"", keys.gate))["signer"]  # north-1's certificate
    forged = seal(cbor2.dumps(signed), keys.collector.certificate)

    with pytest.raises(SealError, match="signature does not match"):
        open_bundle(forged, keys)


def test_writing_refuses_a_collector_certificate_of_another_site(
    tmp_path: Path, keys: Keys, gate_store: EntryStore
) -> None:
    stranger = Keys(tmp_path, name="elsewhere")

    with pytest.raises(SealError, match="not issued by this site's CA"):
        write_entries_bundle(
            [],
            site=SITE,
            gate=GATE,
            identity=keys.gate,
            recipient=stranger.collector.certificate,
            ca=keys.ca,
            now=NOW,
        )


def test_an_expired_gate_certificate_is_refused(keys: Keys, gate_store: EntryStore) -> None:
    data = bundle_of(gate_store, keys)

    with pytest.raises(SealError, match="not valid now"):
        read_entries_bundle(
            data, identity=keys.collector, ca=keys.ca, now=NOW + timedelta(days=900)
        )


def test_every_flipped_byte_and_every_cut_is_refused(keys: Keys, gate_store: EntryStore) -> None:
    data = bundle_of(gate_store, keys)
    places = random.Random(14).sample(range(len(data)), 200)

    for place in places:
        damaged = bytearray(data)
        damaged[place] ^= 1 << random.Random(place).randrange(8)
        with pytest.raises(SealError):
            open_bundle(bytes(damaged), keys)
    for length in (0, 1, 40, len(data) // 2, len(data) - 1):
        with pytest.raises(SealError):
            open_bundle(data[:length], keys)
    with pytest.raises(SealError, match="data after its end"):
        open_bundle(data + b"\x00", keys)


def test_storing_a_bundle_twice_stores_it_once(
    tmp_path: Path, keys: Keys, gate_store: EntryStore
) -> None:
    bundle = read_entries_bundle(
        bundle_of(gate_store, keys), identity=keys.collector, ca=keys.ca, now=NOW
    )
    engine = create_collector_engine(f"sqlite:///{tmp_path / 'collector.db'}")
    create_tables(engine)
    try:
        with Session(engine) as session, session.begin():
            first = store_bundle(session, bundle=bundle, received_at=NOW)
        with Session(engine) as session, session.begin():
            second = store_bundle(session, bundle=bundle, received_at=NOW)
        with Session(engine) as session:
            stored = entry_count(session)
    finally:
        engine.dispose()

    assert (first, second, stored) == (True, False, 120)


def test_a_bundle_id_replayed_with_other_content_is_refused_and_stores_nothing(
    tmp_path: Path, keys: Keys, gate_store: EntryStore
) -> None:
    batches, _ = pending_batches(gate_store, site=SITE, gate=GATE, now=NOW, per_batch=60)
    first = _content(batches[:1], keys.collector.certificate)
    changed = {**first, "batches": batches[1:]}
    opened = [
        open_bundle(seal(sign(cbor2.dumps(c), keys.gate), keys.collector.certificate), keys)
        for c in (first, changed)
    ]
    engine = create_collector_engine(f"sqlite:///{tmp_path / 'collector.db'}")
    create_tables(engine)
    try:
        with Session(engine) as session, session.begin():
            store_bundle(session, bundle=opened[0], received_at=NOW)  # type: ignore[arg-type]
        with pytest.raises(BundleConflictError), Session(engine) as session, session.begin():
            store_bundle(session, bundle=opened[1], received_at=NOW)  # type: ignore[arg-type]
        with Session(engine) as session:
            stored = entry_count(session)
    finally:
        engine.dispose()

    assert stored == 60


def test_a_receipt_names_what_was_stored_and_only_its_gate_takes_it(
    keys: Keys, gate_store: EntryStore
) -> None:
    bundle = read_entries_bundle(
        bundle_of(gate_store, keys), identity=keys.collector, ca=keys.ca, now=NOW
    )
    data = write_receipt(receipt_for(bundle), identity=keys.collector, now=NOW)

    receipt = read_receipt(data, ca=keys.ca, site=SITE, gate=GATE, now=NOW)
    assert receipt.bundle_id == bundle.bundle_id
    assert receipt.ids == [e.id for b in bundle.batches for e in b.entries]
    assert receipt.revisions == [0] * 120
    with pytest.raises(SealError, match="receipt is for gate xiaojiang/north-1"):
        read_receipt(data, ca=keys.ca, site=SITE, gate="south-2", now=NOW)


def test_a_receipt_signed_by_a_gate_is_refused(keys: Keys, gate_store: EntryStore) -> None:
    bundle = read_entries_bundle(
        bundle_of(gate_store, keys), identity=keys.collector, ca=keys.ca, now=NOW
    )
    forged = write_receipt(receipt_for(bundle), identity=keys.gate, now=NOW)

    with pytest.raises(SealError, match="expected collector"):
        read_receipt(forged, ca=keys.ca, site=SITE, gate=GATE, now=NOW)


def test_lists_are_for_their_site_or_gate_and_signed_by_the_community_side(
    tmp_path: Path, keys: Keys
) -> None:
    lists = Lists(site=SITE, gate=None, created_at=NOW, trust=b"{}", status=None, policy=None)
    data = write_lists(lists, identity=keys.server, ca=keys.ca, now=NOW)

    assert read_lists(data, ca=keys.ca, site=SITE, gate="any-gate", now=NOW) == lists
    with pytest.raises(SealError, match="the lists are for xiaojiang"):
        read_lists(data, ca=keys.ca, site="other", gate=GATE, now=NOW)
    for_gate = write_lists(
        Lists(site=SITE, gate=GATE, created_at=NOW, policy=b"{}"),
        identity=keys.collector,
        ca=keys.ca,
        now=NOW,
    )
    with pytest.raises(SealError, match="the lists are for xiaojiang/north-1"):
        read_lists(for_gate, ca=keys.ca, site=SITE, gate="south-2", now=NOW)
    with pytest.raises(SealError, match="expected collector or community-server"):
        write_lists(lists, identity=keys.gate, ca=keys.ca, now=NOW)
    stranger = Keys(tmp_path, name="elsewhere")
    with pytest.raises(SealError, match="not issued by this site's CA"):
        read_lists(
            write_lists(lists, identity=stranger.server, ca=stranger.ca, now=NOW),
            ca=keys.ca,
            site=SITE,
            gate=GATE,
            now=NOW,
        )


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(SealError, match="does not belong"):
        load_identity(keys.directory / "collector-one.crt", keys.gate_key)


def _content(batches: list[bytes], recipient: x509.Certificate) -> dict[str, object]:
    from sync.sealing import fingerprint

    return {
        "kind": "entries",
        "format": 1,
        "bundle": "0b7e6f55-8a8f-4d3e-9d51-3a1c2b4d5e6f",
        "site": SITE,
        "gate": GATE,
        "created_at": NOW.isoformat(),
        "recipient": fingerprint(recipient),
        "batches": batches,
    }
