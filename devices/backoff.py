"""Exponential backoff for reconnecting and restarting devices."""

from __future__ import annotations


class Backoff:
    """Delays that start at `first_s` and double up to `max_s`; `reset` after a success."""

    def __init__(self, first_s: float = 0.2, max_s: float = 5.0) -> None:
        if first_s <= 0 or max_s < first_s:
            raise ValueError("backoff needs 0 < first_s <= max_s")
        self._first_s = first_s
        self._max_s = max_s
        self._next_s = first_s

    def next(self) -> float:
        """The delay to wait now; the following one is twice as long (up to the maximum)."""
        delay = self._next_s
        self._next_s = min(delay * 2, self._max_s)
        return delay

    def reset(self) -> None:
        self._next_s = self._first_s
