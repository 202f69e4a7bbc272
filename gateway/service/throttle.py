"""Login rate limiting: too many failures from one client or for one account lock it a while."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable


class LoginThrottle:
    """Counts failed sign-ins per key in a sliding window.

    A key (a client address, an account) with `limit` failures within `window_s` is refused
    until the oldest of them leaves the window. A success clears the keys it names.
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        window_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._monotonic = monotonic
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until these keys may try again; 0 when they may now."""
        now = self._monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self._limit:
                    wait = max(wait, failures[0] + self._window_s - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        now = self._monotonic()
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                failures.append(now)
                self._failures[key] = failures

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()
        if not failures:
            # Forget idle keys so a scan of many addresses cannot grow the table for ever.
            self._failures.pop(key, None)
        return failures
