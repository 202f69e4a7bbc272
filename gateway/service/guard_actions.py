"""What a guard does after a verdict: confirm an unverifiable code's colour, or override."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from gateway.core.decide import decide
from gateway.core.errors import ActionNotAllowedError
from gateway.core.policy import Policy
from gateway.core.values import (
    CodeCheck,
    CodeStatus,
    Credential,
    Decision,
    Entry,
    Override,
    ReadingQuality,
    ThermalReading,
)
from gateway.service.events import EventBus, PassageEvent
from gateway.storage import entries
from gateway.storage.store import EntryStore

_CONFIRMABLE = {CodeStatus.GREEN, CodeStatus.YELLOW, CodeStatus.RED}


class GuardActions:
    """Each action is one transaction that raises the entry's revision and queues it for sync."""

    def __init__(
        self,
        *,
        store: EntryStore,
        policy: Callable[[], Policy],
        bus: EventBus,
        on_changed: Callable[[Entry], None] = lambda entry: None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._bus = bus
        self._on_changed = on_changed

    async def confirm_colour(self, *, entry_id: str, colour: CodeStatus, guard: str) -> Entry:
        """The colour a guard read off the phone of an unverifiable code; decided again."""
        if colour not in _CONFIRMABLE:
            raise ActionNotAllowedError(f"a confirmed colour is green, yellow or red, not {colour}")
        return await asyncio.to_thread(self._confirm, entry_id, colour, guard)

    def _confirm(self, entry_id: str, colour: CodeStatus, guard: str) -> Entry:
        with self._store.transaction(write=True) as session:
            entry = entries.get_entry(session, entry_id=entry_id)
            if entry.code_check is not CodeCheck.UNVERIFIABLE:
                raise ActionNotAllowedError(
                    f"only unverifiable codes are confirmed by a guard, not {entry.code_check}"
                )
            credential = Credential(
                format=entry.code_format,
                check=entry.code_check,
                status=colour,
                confirmed_by=guard,
            )
            verdict = decide(
                credential,
                _readings_of(entry),
                self._policy(),
                thermal_available=entry.temperature_c is not None,
            )
            changed = entries.amend_entry(
                session,
                entry_id=entry_id,
                decision=verdict.decision,
                reasons=(*verdict.reasons, "guard-confirmed"),
                code_status=colour,
                confirmed_by=guard,
            )
        self._announce(changed)
        return changed

    async def override(
        self, *, entry_id: str, decision: Decision, guard: str, reason: str
    ) -> Entry:
        """A guard's deliberate change of a deny or refer, with who and why."""
        if not reason.strip():
            raise ActionNotAllowedError("an override needs a reason")
        return await asyncio.to_thread(self._override, entry_id, decision, guard, reason.strip())

    def _override(self, entry_id: str, decision: Decision, guard: str, reason: str) -> Entry:
        with self._store.transaction(write=True) as session:
            entry = entries.get_entry(session, entry_id=entry_id)
            if entry.decision is Decision.ADMIT:
                raise ActionNotAllowedError("an admitted entry needs no override")
            changed = entries.amend_entry(
                session,
                entry_id=entry_id,
                decision=decision,
                reasons=(*entry.reasons, f"override-from-{entry.decision.value}"),
                override=Override(by=guard, reason=reason),
            )
        self._announce(changed)
        return changed

    def _announce(self, entry: Entry) -> None:
        self._bus.publish(PassageEvent(entry, recorded=True, kind="amended"))
        self._on_changed(entry)


def _readings_of(entry: Entry) -> tuple[ThermalReading, ...]:
    if entry.temperature_c is None:
        return ()
    at: datetime = entry.occurred_at
    return (
        ThermalReading(
            entry.temperature_c,
            entry.temperature_source or "recorded",
            ReadingQuality.GOOD,
            entry.monotonic_ns,
            at,
        ),
    )
