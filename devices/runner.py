"""Runs every device source in its own named thread and restarts sources that fail."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence

from devices.backoff import Backoff
from gateway.core.ports import ScanSource, ThermalSource
from gateway.core.values import DeviceHealth, DeviceState, Scan, ThermalReading

logger = logging.getLogger(__name__)

Source = ScanSource | ThermalSource


class DeviceRunner:
    """Starts one daemon thread per source, hands their values to callbacks, stops them all.

    The callbacks run in the source threads; they must only hand the value over (e.g. with
    `loop.call_soon_threadsafe`).
    """

    def __init__(
        self,
        scanners: Sequence[ScanSource],
        thermals: Sequence[ThermalSource],
        *,
        restart_first_s: float = 0.2,
        restart_max_s: float = 5.0,
    ) -> None:
        self._scanners = tuple(scanners)
        self._thermals = tuple(thermals)
        self._restart_first_s = restart_first_s
        self._restart_max_s = restart_max_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        # Sources that crashed and wait for their restart: their own health may not say so.
        self._crashed: dict[str, DeviceHealth] = {}

    def start(
        self,
        on_scan: Callable[[Scan], object],
        on_reading: Callable[[ThermalReading], object],
    ) -> None:
        """Start the threads; each calls `on_scan` / `on_reading` for what its source reads.

        What the callbacks return is ignored (e.g. the handle of `call_soon_threadsafe`).
        """
        if self._threads:
            raise RuntimeError("the device runner was already started")

        def emit_scan(scan: Scan) -> None:
            on_scan(scan)

        def emit_reading(reading: ThermalReading) -> None:
            on_reading(reading)

        workers: list[tuple[Source, Callable[[threading.Event], None]]] = [
            (scanner, functools.partial(scanner.run, emit_scan)) for scanner in self._scanners
        ]
        workers += [
            (thermal, functools.partial(thermal.run, emit_reading)) for thermal in self._thermals
        ]
        for source, run in workers:
            thread = threading.Thread(
                target=self._supervise,
                args=(source, run),
                name=f"device-{source.name}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop all sources and join their threads; False if one did not end within `timeout`."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        if stuck:
            logger.warning("device threads still running after %ss: %s", timeout, stuck)
        return not stuck

    def health(self) -> list[DeviceHealth]:
        """The health of every source, scanners first, in the order given."""
        with self._lock:
            crashed = dict(self._crashed)
        sources: tuple[Source, ...] = (*self._scanners, *self._thermals)
        return [
            crashed[source.name] if source.name in crashed else source.health()
            for source in sources
        ]

    def _supervise(self, source: Source, run: Callable[[threading.Event], None]) -> None:
        backoff = Backoff(self._restart_first_s, self._restart_max_s)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                run(self._stop)
            except Exception as exc:
                # The one broad handler: a failing device must not take the gateway down.
                logger.exception("device %s failed; restarting it", source.name)
                reason = f"failed: {type(exc).__name__}: {exc}"
            else:
                if self._stop.is_set():
                    return
                logger.warning("device %s stopped by itself; restarting it", source.name)
                reason = "stopped unexpectedly"
            # A source that ran for a while before failing starts again quickly.
            if time.monotonic() - started > self._restart_max_s:
                backoff.reset()
            self._mark_crashed(source, reason)
            if self._stop.wait(backoff.next()):
                return
            self._clear_crashed(source)

    def _mark_crashed(self, source: Source, reason: str) -> None:
        health = DeviceHealth(source.name, source.health().kind, DeviceState.DOWN, reason)
        with self._lock:
            self._crashed[source.name] = health

    def _clear_crashed(self, source: Source) -> None:
        with self._lock:
            self._crashed.pop(source.name, None)
