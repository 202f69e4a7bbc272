"""Sync by hand, on a USB stick: entries bundles, their receipts, and lists bundles.

- An **entries bundle** holds a gate's unacknowledged entries as MQTT batch payloads (the
  same bytes the publisher sends, so the collector stores them with the same code). It is
  signed by the gate's certificate and sealed to one collector's certificate (`sealing`).
- A **receipt** names the ids and revisions a collector stored from a bundle, as an ack
  payload, signed by the collector; the gate settles exactly those, as an MQTT ack would.
- A **lists bundle** carries the trust list, status list and policy the community server
  keeps retained, signed by a collector or the community server.

Signers are checked by the certificate names the site's CA gives (`gateway.operations.certs`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cbor2
from cryptography import x509

from gateway.core.ports import Outbox
from sync.batch import EntriesBatch, decode_batch, encode_wire_batch
from sync.sealing import (
    Identity,
    SealError,
    check_issued,
    fingerprint,
    open_signed,
    seal,
    sign,
    unseal,
)
from sync.wire import WireError, decode_ack, encode_ack

FORMAT = 1
ENTRIES_PER_BATCH = 1000
COLLECTOR_NAME = "collector"
LIST_SIGNERS = frozenset({COLLECTOR_NAME, "community-server"})


def gate_name(site: str, gate: str) -> str:
    """The CN of a gate's certificate (as `gateway.operations.certs.gate_identity` issues it)."""
    return f"{site}/{gate}"


@dataclass(frozen=True, slots=True)
class EntriesBundle:
    """An opened entries bundle: every check passed."""

    bundle_id: str
    site: str
    gate: str
    created_at: datetime
    digest: str  # SHA-256 of the signed content: the same id with other content is a forgery
    batches: list[EntriesBatch]

    @property
    def count(self) -> int:
        return sum(len(batch.entries) + len(batch.refused) for batch in self.batches)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a collector stored from one bundle."""

    bundle_id: str
    site: str
    gate: str
    ids: list[str]
    revisions: list[int]


@dataclass(frozen=True, slots=True)
class Lists:
    """Documents for the gates of a site (or one gate): each as its retained MQTT payload."""

    site: str
    gate: str | None
    created_at: datetime
    trust: bytes | None = None
    status: bytes | None = None
    policy: bytes | None = None


def pending_batches(
    outbox: Outbox, *, site: str, gate: str, now: datetime, per_batch: int = ENTRIES_PER_BATCH
) -> tuple[list[bytes], int]:
    """Every unacknowledged entry (its latest revision), in seq order, as batch payloads; and
    how many entries they hold."""
    batches = []
    count = 0
    cursor = 0
    while items := outbox.pending(after_seq=cursor, limit=per_batch):
        wires = [item.wire for item in items]
        batches.append(encode_wire_batch(site=site, gate=gate, entries=wires, sent_at=now))
        count += len(items)
        cursor = items[-1].seq
    return batches, count


def write_entries_bundle(
    batches: Sequence[bytes],
    *,
    site: str,
    gate: str,
    identity: Identity,
    recipient: x509.Certificate,
    ca: x509.Certificate,
    now: datetime,
) -> bytes:
    """The batches signed as this gate and sealed to the collector `recipient`."""
    check_issued(identity.certificate, ca, names={gate_name(site, gate)}, now=now)
    check_issued(recipient, ca, names={COLLECTOR_NAME}, now=now)
    content = {
        "kind": "entries",
        "format": FORMAT,
        "bundle": str(uuid.uuid4()),
        "site": site,
        "gate": gate,
        "created_at": now.isoformat(),
        "recipient": fingerprint(recipient),
        "batches": list(batches),
    }
    return seal(sign(cbor2.dumps(content), identity), recipient)


def read_entries_bundle(
    data: bytes, *, identity: Identity, ca: x509.Certificate, now: datetime
) -> EntriesBundle:
    """Open a bundle sealed to this collector and check its gate and every batch in it."""
    signed = open_signed(unseal(data, identity))
    content = _content(signed.payload, "entries")
    site, gate = _text(content, "site"), _text(content, "gate")
    check_issued(signed.signer, ca, names={gate_name(site, gate)}, now=now)
    if content.get("recipient") != fingerprint(identity.certificate):
        raise SealError("the bundle was written for another collector")
    raw_batches = content.get("batches")
    if not isinstance(raw_batches, list) or not all(isinstance(b, bytes) for b in raw_batches):
        raise SealError("the bundle holds no batches")
    batches = []
    for number, payload in enumerate(raw_batches, start=1):
        try:
            batch = decode_batch(payload)
        except WireError as error:
            raise SealError(f"batch {number} of the bundle: {error}") from None
        if (batch.site, batch.gate) != (site, gate) or any(
            (entry.site, entry.gate) != (site, gate) for entry in batch.entries
        ):
            raise SealError(f"batch {number} of the bundle holds another gate's entries")
        batches.append(batch)
    return EntriesBundle(
        bundle_id=_text(content, "bundle"),
        site=site,
        gate=gate,
        created_at=_time(content, "created_at"),
        digest=hashlib.sha256(signed.payload).hexdigest(),
        batches=batches,
    )


def receipt_for(bundle: EntriesBundle) -> Receipt:
    """The receipt naming everything in the bundle (stored, or kept aside as refused)."""
    ids: list[str] = []
    revisions: list[int] = []
    for batch in bundle.batches:
        batch_ids, batch_revisions = batch.acknowledged()
        ids += batch_ids
        revisions += batch_revisions
    return Receipt(bundle.bundle_id, bundle.site, bundle.gate, ids, revisions)


def write_receipt(receipt: Receipt, *, identity: Identity, now: datetime) -> bytes:
    content = {
        "kind": "receipt",
        "format": FORMAT,
        "bundle": receipt.bundle_id,
        "site": receipt.site,
        "gate": receipt.gate,
        "issued_at": now.isoformat(),
        "ack": encode_ack(receipt.ids, receipt.revisions) if receipt.ids else b"",
    }
    return sign(cbor2.dumps(content), identity)


def read_receipt(
    data: bytes, *, ca: x509.Certificate, site: str, gate: str, now: datetime
) -> Receipt:
    """A collector's receipt for this gate, its signer checked."""
    signed = open_signed(data)
    check_issued(signed.signer, ca, names={COLLECTOR_NAME}, now=now)
    content = _content(signed.payload, "receipt")
    for_site, for_gate = _text(content, "site"), _text(content, "gate")
    if (for_site, for_gate) != (site, gate):
        raise SealError(f"the receipt is for gate {for_site}/{for_gate}, this is {site}/{gate}")
    ack = content.get("ack")
    if not isinstance(ack, bytes):
        raise SealError("the receipt names no entries")
    ids: list[str] = []
    revisions: list[int] = []
    if ack:
        try:
            decoded = decode_ack(ack)
        except WireError as error:
            raise SealError(f"the receipt's entries: {error}") from None
        ids = list(decoded.ids)
        revisions = list(decoded.revisions or [])
    return Receipt(_text(content, "bundle"), site, gate, ids, revisions)


def write_lists(lists: Lists, *, identity: Identity, ca: x509.Certificate, now: datetime) -> bytes:
    check_issued(identity.certificate, ca, names=LIST_SIGNERS, now=now)
    content = {
        "kind": "lists",
        "format": FORMAT,
        "site": lists.site,
        "gate": lists.gate,
        "created_at": lists.created_at.isoformat(),
        "trust": lists.trust,
        "status": lists.status,
        "policy": lists.policy,
    }
    return sign(cbor2.dumps(content), identity)


def read_lists(data: bytes, *, ca: x509.Certificate, site: str, gate: str, now: datetime) -> Lists:
    """A lists bundle for this gate (or its whole site), its signer checked."""
    signed = open_signed(data)
    check_issued(signed.signer, ca, names=LIST_SIGNERS, now=now)
    content = _content(signed.payload, "lists")
    for_site, for_gate = _text(content, "site"), content.get("gate")
    if for_site != site or for_gate not in (None, gate):
        where = for_site if for_gate is None else f"{for_site}/{for_gate}"
        raise SealError(f"the lists are for {where}, this is {site}/{gate}")
    documents = {name: content.get(name) for name in ("trust", "status", "policy")}
    if not all(value is None or isinstance(value, bytes) for value in documents.values()):
        raise SealError("a damaged lists bundle")
    return Lists(site, gate if for_gate else None, _time(content, "created_at"), **documents)


def _content(payload: bytes, kind: str) -> dict[str, Any]:
    try:
        content = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError):
        raise SealError("a damaged document") from None
    if not isinstance(content, dict) or content.get("kind") != kind:
        raise SealError(f"not {'an' if kind[0] in 'aeiou' else 'a'} {kind} document")
    if content.get("format") != FORMAT:
        raise SealError(f"a {kind} document of format {content.get('format')!r}, not {FORMAT}")
    return content


def _text(content: dict[str, Any], key: str) -> str:
    value = content.get(key)
    if not isinstance(value, str) or not value:
        raise SealError(f"the document has no {key}")
    return value


def _time(content: dict[str, Any], key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_text(content, key))
    except ValueError:
        raise SealError(f"the document's {key} is not a time") from None
    if moment.tzinfo is None:
        raise SealError(f"the document's {key} has no time zone")
    return moment
