"""Reconnect delays: exponential, capped, and jittered so that gates cut off together (a broker
restart, a network outage) do not all come back in the same second."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from `first_s` up to `max_s`; each is drawn from [delay/2, delay].

    Half of each delay is random ("equal jitter"): reconnects spread out, yet none comes
    sooner than half the nominal delay. `reset` after a successful connection.
    """

    def __init__(
        self, first_s: float = 1.0, max_s: float = 30.0, *, rng: random.Random | None = None
    ) -> None:
        if first_s <= 0 or max_s < first_s:
            raise ValueError("backoff needs 0 < first_s <= max_s")
        self._first_s = first_s
        self._max_s = max_s
        self._nominal_s = first_s
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay to wait now; the next nominal delay is twice as long (up to the maximum)."""
        nominal = self._nominal_s
        self._nominal_s = min(nominal * 2, self._max_s)
        return self._rng.uniform(nominal / 2, nominal)

    def reset(self) -> None:
        self._nominal_s = self._first_s
