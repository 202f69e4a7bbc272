"""What a guard records by hand: a visitor without a code, and a handheld-thermometer reading."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable
from typing import Final

from gateway.core.decide import decide
from gateway.core.errors import ActionNotAllowedError, NotRecordedError, StorageError
from gateway.core.masking import mask_digits, mask_name
from gateway.core.policy import Policy
from gateway.core.values import (
    CodeCheck,
    CodeStatus,
    Credential,
    Decision,
    Direction,
    Entry,
    NewEntry,
    ReadingQuality,
    ThermalReading,
)
from gateway.runtime.clock import uuid7
from gateway.service.checkpoint import Clock, GateIdentity
from gateway.service.events import EventBus, PassageEvent
from gateway.storage import entries, manual
from gateway.storage.store import EntryStore

VISITOR_FORMAT: Final = "visitor"
HANDHELD: Final = "handheld"
GUARD_LANE: Final = "guard"  # the lane of passages a guard records at the desk
# Reasons that say a passage was referred or denied because of its temperature.
TEMPERATURE_REASONS: Final = frozenset(
    {"no-temperature", "thermal-unavailable", "temperature-implausible", "fever-remeasure", "fever"}
)
# Reasons that came from outside decide()'s inputs and stay with a re-decided entry.
_KEPT_REASONS: Final = ("status-list", "guard-confirmed", VISITOR_FORMAT)
_MIN_READING_C, _MAX_READING_C = 20.0, 50.0  # outside this it is a typing slip, not a reading
_MAX_TEXT = 40


class ManualEntries:
    """Each use-case is one transaction; the screens hear about the result on the bus."""

    def __init__(
        self,
        *,
        store: EntryStore,
        policy: Callable[[], Policy],
        identity: GateIdentity,
        clock: Clock,
        bus: EventBus,
        on_recorded: Callable[[Entry], None] = lambda entry: None,
        on_changed: Callable[[Entry], None] = lambda entry: None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._identity = identity
        self._clock = clock
        self._bus = bus
        self._on_recorded = on_recorded
        self._on_changed = on_changed

    async def register_visitor(
        self,
        *,
        name: str,
        phone: str,
        unit: str,
        reason: str,
        guard: str,
        direction: Direction = Direction.IN,
        celsius: float | None = None,
    ) -> Entry:
        """Record a visitor the guard let through the gate without a code.

        Only the masked name, the phone's last four digits, the host unit and the reason are
        kept, in the entry's label. The guard's registration stands in for a code; the
        temperature (a handheld reading, if taken) is decided as for everyone else.
        """
        label = visitor_label(name=name, phone=phone, unit=unit, reason=reason)
        if celsius is not None:
            _check_reading(celsius)
        now, monotonic_ns = self._clock.now(), self._clock.monotonic_ns()
        readings = (
            ()
            if celsius is None
            else (ThermalReading(celsius, HANDHELD, ReadingQuality.GOOD, monotonic_ns, now),)
        )
        credential = Credential(format=VISITOR_FORMAT, check=CodeCheck.NO_CODE, confirmed_by=guard)
        verdict = decide(
            credential,
            readings,
            _visitor_policy(self._policy()),
            thermal_available=celsius is not None,
        )
        entry = NewEntry(
            id=uuid7(now),
            gate=self._identity.gate,
            site=self._identity.site,
            lane=GUARD_LANE,
            direction=direction,
            occurred_at=now,
            clock_synced=self._clock.synchronised(),
            boot_id=self._identity.boot_id,
            monotonic_ns=monotonic_ns,
            code_format=VISITOR_FORMAT,
            code_check=CodeCheck.NO_CODE,
            code_status=CodeStatus.UNKNOWN,
            subject=None,
            subject_label=label,
            payload_digest=None,
            temperature_c=None if celsius is None else round(celsius, 2),
            temperature_source=None if celsius is None else HANDHELD,
            remeasured=False,
            decision=verdict.decision,
            reasons=(*verdict.reasons, VISITOR_FORMAT),
        )
        try:
            stored = await asyncio.to_thread(self._store.record, entry)
        except StorageError as exc:
            # The guard is still at the form and sees the failure: nothing is lost silently.
            raise NotRecordedError(f"the visitor was not recorded: {exc}") from exc
        self._bus.publish(PassageEvent(stored, recorded=True))
        self._on_recorded(stored)
        return stored

    async def handheld_reading(self, *, entry_id: str, celsius: float) -> Entry:
        """A handheld-thermometer reading for a passage held up by its temperature; decided again.

        The code's verdict stands as recorded; a first high reading asks for one more, as at
        the camera.
        """
        _check_reading(celsius)
        return await asyncio.to_thread(self._handheld, entry_id, celsius)

    def _handheld(self, entry_id: str, celsius: float) -> Entry:
        with self._store.transaction(write=True) as session:
            entry = entries.get_entry(session, entry_id=entry_id)
            _require_temperature_referral(entry)
            policy = self._policy()
            if entry.code_format == VISITOR_FORMAT:
                policy = _visitor_policy(policy)
            reading = ThermalReading(
                celsius,
                HANDHELD,
                ReadingQuality.GOOD,
                self._clock.monotonic_ns(),
                self._clock.now(),
            )
            verdict = decide(
                Credential(
                    format=entry.code_format,
                    check=entry.code_check,
                    status=entry.code_status,
                    subject=entry.subject,
                    confirmed_by=entry.confirmed_by,
                ),
                (*_earlier_reading(entry, policy), reading),
                policy,
                thermal_available=True,
                lists_age_h=math.inf if "lists-outdated" in entry.reasons else None,
                passback="pass-back" in entry.reasons,
            )
            kept = tuple(r for r in _KEPT_REASONS if r in entry.reasons)
            changed = manual.amend_temperature(
                session,
                entry_id=entry_id,
                celsius=round(celsius, 2),
                source=HANDHELD,
                decision=verdict.decision,
                reasons=(*verdict.reasons, *kept, HANDHELD),
            )
        self._bus.publish(PassageEvent(changed, recorded=True, kind="amended"))
        self._on_changed(changed)
        return changed

    async def ask_to_remeasure(self, *, entry_id: str) -> Entry:
        """Show every screen the re-measure prompt for a passage held up by its temperature."""
        entry = await asyncio.to_thread(self._store.get, entry_id)
        _require_temperature_referral(entry)
        self._bus.publish(PassageEvent(entry, recorded=True, kind="remeasure"))
        return entry


def visitor_label(*, name: str, phone: str, unit: str, reason: str) -> str:
    """'王*明 *5678 3-2-501 · 探亲': masked name, last four digits, host unit, reason."""
    name, unit, reason = name.strip(), " ".join(unit.split()), " ".join(reason.split())
    if not name or len(name) > _MAX_TEXT:
        raise ActionNotAllowedError(f"a visitor's name has 1 to {_MAX_TEXT} characters")
    if not unit or len(unit) > _MAX_TEXT:
        raise ActionNotAllowedError(f"the host unit has 1 to {_MAX_TEXT} characters")
    if not reason or len(reason) > _MAX_TEXT:
        raise ActionNotAllowedError(f"the reason for the visit has 1 to {_MAX_TEXT} characters")
    digits = mask_digits(phone)
    if len(digits) < 4:
        raise ActionNotAllowedError("a phone number has at least 4 digits")
    return f"{mask_name(name)} *{digits[-4:]} {unit} · {reason}"


def _visitor_policy(policy: Policy) -> Policy:
    # A guard's registration is what a visitor shows instead of a code.
    return dataclasses.replace(policy, no_code=Decision.ADMIT)


def _check_reading(celsius: float) -> None:
    if not math.isfinite(celsius) or not _MIN_READING_C <= celsius <= _MAX_READING_C:
        raise ActionNotAllowedError(
            f"a body temperature is between {_MIN_READING_C} and {_MAX_READING_C} °C"
        )


def _require_temperature_referral(entry: Entry) -> None:
    if entry.override is not None:
        raise ActionNotAllowedError("an overridden entry keeps the guard's decision")
    if entry.decision is Decision.ADMIT or not TEMPERATURE_REASONS & set(entry.reasons):
        raise ActionNotAllowedError(
            "a handheld reading is for a passage referred or denied for its temperature"
        )


def _earlier_reading(entry: Entry, policy: Policy) -> tuple[ThermalReading, ...]:
    """The recorded reading, if plausible: a second high reading confirms a fever."""
    t = entry.temperature_c
    if t is None or not policy.min_plausible_c <= t <= policy.max_plausible_c:
        return ()
    source = entry.temperature_source or "recorded"
    return (ThermalReading(t, source, ReadingQuality.GOOD, entry.monotonic_ns, entry.occurred_at),)
