"""The last log lines, kept in memory for the technician's log tail."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class LogLine:
    at: datetime
    level: str
    logger: str
    message: str


class LogRing(logging.Handler):
    """A logging handler holding the newest `capacity` records (older ones drop off).

    `until` ends the collection (e.g. once the gateway stops): the handler then ignores
    records, so a handler left on the root logger costs nothing.
    """

    def __init__(
        self,
        capacity: int = 500,
        *,
        level: int = logging.INFO,
        until: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(level)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._until = until
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if self._until():
            return
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        line = LogLine(
            datetime.fromtimestamp(record.created, UTC), record.levelname, record.name, message
        )
        with self._guard:
            self._lines.append(line)

    def tail(self, limit: int) -> list[LogLine]:
        """The newest `limit` lines, oldest first."""
        with self._guard:
            lines = list(self._lines)
        return lines[-limit:] if limit > 0 else []
