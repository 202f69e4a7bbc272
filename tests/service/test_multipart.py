"""A SMART Health Card in three QR chunks is one passage, decided when the last chunk arrives."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from gateway.codes.formats import code_formats
from gateway.codes.trust import TrustStore
from gateway.codes.trust_files import read_trust_file
from gateway.core.policy import Policy
from gateway.core.values import CodeCheck, Credential, Decision, Direction, Scan
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus
from gateway.storage.store import EntryStore
from tests.codes.test_shc_conformance import ISSUER, JWKS, NOW, _qr_texts
from tests.service.test_checkpoint import TestClock


class ExampleDay(TestClock):
    def now(self) -> datetime:
        return NOW


def test_chunks_make_one_entry(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    service = CheckpointService(
        store=store,
        formats=code_formats(TrustStore(read_trust_file(JWKS, issuer=ISSUER))),
        policy=lambda: Policy(require_temperature=False),
        identity=GateIdentity("s", "g", "boot"),
        clock=ExampleDay(),
        bus=EventBus(),
        thermal_available=lambda: False,
        remeasure_wait_s=0.1,
    )
    chunks = _qr_texts(2)
    assert len(chunks) == 3

    async def main() -> None:
        results = [
            await service.handle_scan(Scan(chunk.encode(), "scanner-1", "1", Direction.IN, 0, NOW))
            for chunk in chunks
        ]
        assert results[:2] == [None, None]
        assert results[2] is not None
        assert results[2].code_check is CodeCheck.VALID

    asyncio.run(main())
    assert len(store.recent(limit=10)) == 1


class BrokenFormat:
    """A verifier with a bug: it raises on every code it claims."""

    name = "broken"

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(b"BROKEN:")

    def verify(self, payload: bytes, now: datetime) -> Credential:
        raise ZeroDivisionError("a bug")


def test_a_verifiers_bug_is_recorded_as_unreadable_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    service = CheckpointService(
        store=store,
        formats=[BrokenFormat()],
        policy=lambda: Policy(require_temperature=False),
        identity=GateIdentity("s", "g", "boot"),
        clock=ExampleDay(),
        bus=EventBus(),
        thermal_available=lambda: False,
        remeasure_wait_s=0.1,
    )

    async def main() -> None:
        entry = await service.handle_scan(Scan(b"BROKEN:1", "scanner-1", "1", Direction.IN, 0, NOW))
        assert entry is not None
        assert (entry.code_check, entry.decision) == (CodeCheck.UNREADABLE, Decision.REFER)
        assert "code-unreadable" in entry.reasons

    asyncio.run(main())
    assert [e.code_check for e in store.recent(limit=5)] == [CodeCheck.UNREADABLE]
    failures = [r for r in caplog.records if "verifying a code failed" in r.getMessage()]
    assert failures and failures[0].exc_info is not None
