"""Fan-out of passage events to the screens (each subscriber gets its own bounded queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gateway.core.values import NewEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PassageEvent:
    """A decided passage for the screens.

    `kind` is "verdict", or "remeasure" while the person is asked to be measured again.
    `recorded` is False while the entry waits for a write that failed (e.g. disk full).
    """

    entry: NewEntry
    recorded: bool
    kind: str = "verdict"


class EventBus:
    """Broadcasts events to every connected screen; a slow screen loses old events, not new."""

    def __init__(self, queue_size: int = 64) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[PassageEvent]] = set()

    def publish(self, event: PassageEvent) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[PassageEvent]]:
        queue: asyncio.Queue[PassageEvent] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
