"""The gate's use-case: a scan (or a person without one) becomes a decided, recorded entry."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.core.codes import CodeFormat, payload_digest, read_code
from gateway.core.decide import decide
from gateway.core.errors import StorageError
from gateway.core.pairing import RecentReadings, ScanDeduper
from gateway.core.policy import Policy
from gateway.core.status_list import StatusList, apply_status_list
from gateway.core.values import (
    NO_CODE,
    CodeCheck,
    Credential,
    Direction,
    Entry,
    NewEntry,
    Scan,
    ThermalReading,
    Verdict,
)
from gateway.runtime.clock import uuid7
from gateway.service.events import EventBus, PassageEvent
from gateway.storage.store import EntryStore

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_RETRY_S = 2.0
_READING_GRACE_S = 1.5  # how long a scan without a reading waits for the thermal source


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic_ns(self) -> int: ...

    def synchronised(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Context:
    """What a decision needs besides the code and the readings."""

    lists_age_h: float | None = None
    passback: bool = False
    extra_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GateIdentity:
    site: str
    gate: str
    boot_id: str


class CheckpointService:
    """Decides each passage and records it durably before the verdict is shown.

    Runs on the asyncio loop; devices hand in scans and readings with `on_scan` and
    `on_reading` (from the loop thread). Database writes run in a worker thread.
    """

    def __init__(
        self,
        *,
        store: EntryStore,
        formats: Sequence[CodeFormat],
        policy: Callable[[], Policy],
        identity: GateIdentity,
        clock: Clock,
        bus: EventBus,
        thermal_available: Callable[[], bool],
        remeasure_wait_s: float,
        on_recorded: Callable[[Entry], None] = lambda entry: None,
        status_list: Callable[[], StatusList] = StatusList,
        lists_issued_at: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self._store = store
        self._formats = formats
        self._policy = policy
        self._identity = identity
        self._clock = clock
        self._bus = bus
        self._thermal_available = thermal_available
        self._remeasure_wait_s = remeasure_wait_s
        self._on_recorded = on_recorded
        self._status_list = status_list
        self._lists_issued_at = lists_issued_at
        self._readings = RecentReadings()
        self._deduper = ScanDeduper(policy().dedupe_window_s)
        self._new_reading = asyncio.Event()
        self._claimed_until_ns = 0  # readings up to here belong to a passage with a scan
        self._used_until_ns = 0  # readings up to here were used by a decided passage
        self._unrecorded: deque[NewEntry] = deque()
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[object]] = set()

    # -- intake (called on the loop) -------------------------------------------------

    def on_scan(self, scan: Scan) -> None:
        if self._deduper.is_repeat(scan):
            log.debug("repeat read of the same code within the dedupe window ignored")
            return
        self._spawn(self.handle_scan(scan))

    def on_reading(self, reading: ThermalReading) -> None:
        self._readings.add(reading)
        self._new_reading.set()
        self._new_reading = asyncio.Event()
        if reading.monotonic_ns > self._claimed_until_ns:
            self._spawn(self._record_if_unscanned(reading))

    @property
    def unrecorded_count(self) -> int:
        return len(self._unrecorded)

    # -- use-cases ---------------------------------------------------------------------

    async def handle_scan(self, scan: Scan) -> NewEntry | None:
        """Verify, pair, decide (re-measuring if asked), record, then announce the verdict.

        A chunk of a multi-part code that waits for the rest is not a passage: None.
        """
        policy = self._policy()
        window_ns = int(policy.pairing_window_s * _NS)
        self._claimed_until_ns = max(self._claimed_until_ns, scan.monotonic_ns + window_ns)
        credential, context = await self._judge(scan, policy)
        if credential.check is CodeCheck.PARTIAL:
            log.info("multi-part code: %s", credential.detail)
            return None
        readings = self._unused(self._readings.around(scan.monotonic_ns, policy.pairing_window_s))
        if not readings and self._thermal_available():
            grace_s = min(_READING_GRACE_S, policy.pairing_window_s)
            readings = await self._wait_for_readings(scan.monotonic_ns, 1, grace_s)
        verdict = self._decide(credential, readings, policy, context)
        remeasured = False
        if verdict.remeasure:
            self._bus.publish(
                PassageEvent(
                    self._entry(scan, credential, readings, verdict, False), False, "remeasure"
                )
            )
            later = await self._wait_for_readings(
                readings[-1].monotonic_ns, 1, self._remeasure_wait_s
            )
            remeasured = bool(later)
            readings = (*readings, *later)
            verdict = self._decide(credential, readings, policy, context)
        self._claimed_until_ns = max(self._claimed_until_ns, self._clock.monotonic_ns() + window_ns)
        self._mark_used(readings)
        entry = self._entry(scan, credential, readings, verdict, remeasured)
        await self._record(entry)
        return entry

    async def _record_if_unscanned(self, reading: ThermalReading) -> None:
        """A person measured but showing no code within the pairing window is still recorded."""
        policy = self._policy()
        await asyncio.sleep(policy.pairing_window_s)
        if reading.monotonic_ns <= self._claimed_until_ns:
            return
        readings = tuple(
            r
            for r in self._unused(
                self._readings.around(reading.monotonic_ns, policy.pairing_window_s)
            )
            if r.monotonic_ns > self._claimed_until_ns
        )
        self._claimed_until_ns = max(r.monotonic_ns for r in readings)
        self._mark_used(readings)
        verdict = self._decide(NO_CODE, readings, policy, _Context())
        scan = Scan(
            payload=b"",
            source=reading.source,
            lane=reading.source[:16],  # no scanner saw this person; the thermal source did
            direction=Direction.IN,
            monotonic_ns=reading.monotonic_ns,
            wall_time=reading.wall_time,
        )
        await self._record(self._entry(scan, NO_CODE, readings, verdict, len(readings) > 1))

    # -- steps -------------------------------------------------------------------------

    def _unused(self, readings: Sequence[ThermalReading]) -> tuple[ThermalReading, ...]:
        """Readings not yet spent on an earlier person's passage."""
        return tuple(r for r in readings if r.monotonic_ns > self._used_until_ns)

    def _mark_used(self, readings: Sequence[ThermalReading]) -> None:
        if readings:
            self._used_until_ns = max(self._used_until_ns, readings[-1].monotonic_ns)

    async def _judge(self, scan: Scan, policy: Policy) -> tuple[Credential, _Context]:
        """Verify the code, apply the status list, and gather what else the decision needs."""
        credential = _read_code_safely(scan.payload, self._formats, scan.wall_time)
        credential, by_status_list = apply_status_list(credential, self._status_list())
        issued_at = self._lists_issued_at()
        lists_age_h = (
            (scan.wall_time - issued_at).total_seconds() / 3600 if issued_at is not None else None
        )
        passback = False
        if credential.verified and credential.subject and policy.passback_window_s > 0:
            passback = await asyncio.to_thread(
                self._store.admitted_since,
                subject=credential.subject,
                direction=scan.direction,
                since=scan.wall_time - timedelta(seconds=policy.passback_window_s),
            )
        extra = ("status-list",) if by_status_list else ()
        return credential, _Context(lists_age_h, passback, extra)

    def _decide(
        self,
        credential: Credential,
        readings: Sequence[ThermalReading],
        policy: Policy,
        context: _Context,
    ) -> Verdict:
        verdict = decide(
            credential,
            readings,
            policy,
            thermal_available=self._thermal_available(),
            lists_age_h=context.lists_age_h,
            passback=context.passback,
        )
        if not context.extra_reasons:
            return verdict
        return dataclasses.replace(verdict, reasons=(*verdict.reasons, *context.extra_reasons))

    async def _wait_for_readings(
        self, after_ns: int, count: int, timeout_s: float
    ) -> tuple[ThermalReading, ...]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self._readings.after(after_ns)) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._new_reading.wait(), remaining)
            except TimeoutError:
                break
        return self._readings.after(after_ns)[:count]

    def _entry(
        self,
        scan: Scan,
        credential: Credential,
        readings: Sequence[ThermalReading],
        verdict: Verdict,
        remeasured: bool,
    ) -> NewEntry:
        latest = readings[-1] if readings else None
        return NewEntry(
            id=uuid7(scan.wall_time),
            gate=self._identity.gate,
            site=self._identity.site,
            lane=scan.lane,
            direction=scan.direction,
            occurred_at=scan.wall_time,
            clock_synced=self._clock.synchronised(),
            boot_id=self._identity.boot_id,
            monotonic_ns=scan.monotonic_ns,
            code_format=credential.format,
            code_check=credential.check,
            code_status=credential.status,
            subject=credential.subject,
            subject_label=credential.label,
            payload_digest=payload_digest(scan.payload) if scan.payload else None,
            temperature_c=round(latest.celsius, 2) if latest else None,
            temperature_source=latest.source if latest else None,
            remeasured=remeasured,
            decision=verdict.decision,
            reasons=verdict.reasons,
        )

    async def _record(self, entry: NewEntry) -> None:
        """Commit, then announce. A failed write is announced as NOT RECORDED and retried."""
        async with self._write_lock:
            if not self._unrecorded and await self._try_write(entry):
                return
            self._unrecorded.append(entry)
            self._bus.publish(PassageEvent(entry, recorded=False))
            if len(self._unrecorded) == 1:
                self._spawn(self._retry_unrecorded())

    async def _try_write(self, entry: NewEntry) -> bool:
        try:
            stored = await asyncio.to_thread(self._store.record, entry)
        except StorageError as exc:
            log.error("entry not recorded, kept in memory and retried: %s", exc)
            return False
        self._bus.publish(PassageEvent(stored, recorded=True))
        self._on_recorded(stored)
        return True

    async def _retry_unrecorded(self) -> None:
        while self._unrecorded:
            await asyncio.sleep(_RETRY_S)
            async with self._write_lock:
                while self._unrecorded and await self._try_write(self._unrecorded[0]):
                    self._unrecorded.popleft()

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("passage handling failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait until every passage in progress has been handled (used on shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _read_code_safely(payload: bytes, formats: Sequence[CodeFormat], now: datetime) -> Credential:
    """The code's credential. The verifiers turn every failure they know into a check; this
    is the gate's one guard against a bug in them: the passage is still recorded, referred to
    the guard as unreadable, and the error logged with its traceback."""
    try:
        return read_code(payload, formats, now)
    except Exception:
        log.exception("verifying a code failed unexpectedly")
        return Credential(
            format="unknown", check=CodeCheck.UNREADABLE, detail="internal error reading the code"
        )
