"""Guard actions on recorded entries, on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.core.errors import ActionNotAllowedError, EntryNotFoundError
from gateway.core.policy import Policy
from gateway.core.values import CodeCheck, CodeStatus, Decision, Entry
from gateway.service.events import EventBus
from gateway.service.guard_actions import GuardActions
from gateway.storage.store import EntryStore
from tests.storage.test_store import new_entry


def actions(store: EntryStore, changed: list[Entry]) -> GuardActions:
    return GuardActions(store=store, policy=Policy, bus=EventBus(), on_changed=changed.append)


def test_confirmed_green_admits_and_is_queued_again(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entry = store.record(
        new_entry(code_check=CodeCheck.UNVERIFIABLE, code_status=CodeStatus.UNKNOWN,
                  decision=Decision.REFER, reasons=("code-unverified",))
    )  # fmt: skip
    store.mark_synced(ids=[entry.id])
    changed: list[Entry] = []
    result = asyncio.run(
        actions(store, changed).confirm_colour(
            entry_id=entry.id, colour=CodeStatus.GREEN, guard="guard-王"
        )
    )
    assert result.decision is Decision.ADMIT
    assert result.code_status is CodeStatus.GREEN
    assert result.confirmed_by == "guard-王"
    assert "guard-confirmed" in result.reasons
    assert result.revision == 1
    assert [e.id for e in store.pending(after_seq=0, limit=10)] == [entry.id]
    assert changed == [result]


def test_confirming_red_denies(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entry = store.record(new_entry(code_check=CodeCheck.UNVERIFIABLE, decision=Decision.REFER))
    result = asyncio.run(
        actions(store, []).confirm_colour(entry_id=entry.id, colour=CodeStatus.RED, guard="g")
    )
    assert result.decision is Decision.DENY


def test_a_verified_code_cannot_be_confirmed_by_a_guard(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entry = store.record(new_entry(code_check=CodeCheck.VALID, code_status=CodeStatus.RED))
    with pytest.raises(ActionNotAllowedError, match="only unverifiable codes"):
        asyncio.run(
            actions(store, []).confirm_colour(entry_id=entry.id, colour=CodeStatus.GREEN, guard="g")
        )
    assert store.get(entry.id).revision == 0


def test_override_records_who_and_why(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entry = store.record(new_entry(decision=Decision.DENY, reasons=("fever",)))
    result = asyncio.run(
        actions(store, []).override(
            entry_id=entry.id, decision=Decision.ADMIT, guard="guard-1", reason="handheld 36.6"
        )
    )
    assert result.decision is Decision.ADMIT
    assert result.override is not None
    assert (result.override.by, result.override.reason) == ("guard-1", "handheld 36.6")
    assert result.reasons == ("fever", "override-from-deny")
    assert store.get(entry.id) == result


def test_override_needs_a_reason_and_an_entry(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entry = store.record(new_entry(decision=Decision.DENY))
    with pytest.raises(ActionNotAllowedError, match="reason"):
        asyncio.run(
            actions(store, []).override(
                entry_id=entry.id, decision=Decision.ADMIT, guard="g", reason="  "
            )
        )
    with pytest.raises(EntryNotFoundError):
        asyncio.run(
            actions(store, []).override(
                entry_id="nope", decision=Decision.ADMIT, guard="g", reason="r"
            )
        )
