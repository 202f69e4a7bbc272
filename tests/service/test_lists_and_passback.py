"""Status list, list age and pass-back, with real signed passes through the real service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.codes.community_pass import CommunityPassFormat, issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory
from gateway.codes.trust import TrustStore, load_trust_list
from gateway.core.policy import Policy
from gateway.core.status_list import StatusList
from gateway.core.values import CodeStatus, Decision, Direction, Scan
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus
from gateway.storage.store import EntryStore
from tests.service.test_checkpoint import TestClock

NOW = datetime.now(UTC)


def setup(tmp_path: Path, **options: object) -> tuple[CheckpointService, KeyDirectory]:
    keys = KeyDirectory.create(
        tmp_path / "keys", issuer="community", site="s", alg=Algorithm.EDDSA, now=NOW
    )
    trust = TrustStore(load_trust_list(keys.trust_list_path))
    service = CheckpointService(
        store=EntryStore.open(tmp_path / "g.db"),
        formats=[CommunityPassFormat(trust)],
        policy=lambda: options.get("policy", Policy(require_temperature=False)),  # type: ignore[return-value]
        identity=GateIdentity("s", "g", "boot"),
        clock=TestClock(),
        bus=EventBus(),
        thermal_available=lambda: False,
        remeasure_wait_s=0.1,
        status_list=lambda: options.get("status", StatusList()),  # type: ignore[return-value]
        lists_issued_at=lambda: options.get("lists_at"),  # type: ignore[return-value]
    )
    return service, keys


def card(keys: KeyDirectory, subject: str, colour: CodeStatus = CodeStatus.GREEN) -> bytes:
    signer = keys.signing_key()
    return issue_pass(
        signing_key=signer.private_key, kid=signer.kid, issuer=signer.issuer, subject=subject,
        label="张*", unit="1-1-101", colour=colour, issued_at=NOW - timedelta(days=2),
        expires_at=NOW + timedelta(days=2),
    ).encode()  # fmt: skip


def scan(payload: bytes, direction: Direction = Direction.IN, lane: str = "1") -> Scan:
    return Scan(payload, f"scanner-{lane}", lane, direction, 0, datetime.now(UTC))


def test_newer_status_list_overrides_the_pass_colour(tmp_path: Path) -> None:
    status = StatusList(1, NOW - timedelta(hours=1), "s", {"subj-red": CodeStatus.RED})
    service, keys = setup(tmp_path, status=status)

    async def main() -> None:
        flagged = await service.handle_scan(scan(card(keys, "subj-red")))
        assert flagged.code_status is CodeStatus.RED
        assert flagged.decision is Decision.DENY
        assert "status-list" in flagged.reasons
        other = await service.handle_scan(scan(card(keys, "subj-ok")))
        assert other.decision is Decision.ADMIT

    asyncio.run(main())


def test_status_list_older_than_the_pass_does_not_override(tmp_path: Path) -> None:
    status = StatusList(1, NOW - timedelta(days=3), "s", {"subj": CodeStatus.RED})
    service, keys = setup(tmp_path, status=status)
    entry = asyncio.run(service.handle_scan(scan(card(keys, "subj"))))
    assert entry.decision is Decision.ADMIT


def test_outdated_lists_refer_verified_codes(tmp_path: Path) -> None:
    service, keys = setup(tmp_path, lists_at=NOW - timedelta(hours=72))
    entry = asyncio.run(service.handle_scan(scan(card(keys, "subj"))))
    assert entry.decision is Decision.REFER
    assert "lists-outdated" in entry.reasons


def test_the_same_pass_again_is_flagged_at_any_lane_of_the_gate(tmp_path: Path) -> None:
    service, keys = setup(tmp_path)
    payload = card(keys, "subj")

    async def main() -> None:
        first = await service.handle_scan(scan(payload, lane="1"))
        assert first.decision is Decision.ADMIT
        again = await service.handle_scan(scan(payload, lane="2"))
        assert again.decision is Decision.REFER
        assert "pass-back" in again.reasons
        going_out = await service.handle_scan(scan(payload, Direction.OUT, lane="3"))
        assert going_out.decision is Decision.ADMIT

    asyncio.run(main())
