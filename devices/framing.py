"""Splitting a serial byte stream into payloads ended by CR, LF or CRLF."""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

_TERMINATOR = re.compile(rb"[\r\n]")


class LineFramer:
    """Collects bytes and returns the complete, stripped, non-empty lines.

    CR and LF each end a line, so CRLF yields one line and an empty one, which is ignored.
    A line longer than `max_length` is discarded with a warning; when it has no terminator
    yet, everything up to the next terminator is discarded too, so the stream resynchronises.
    """

    def __init__(self, max_length: int, *, label: str) -> None:
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self._max_length = max_length
        self._label = label
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; returns the lines they complete, in order."""
        *ended, tail = _TERMINATOR.split(data)
        lines = [line for part in ended if (line := self._end_line(part))]
        if not self._discarding:
            self._buffer += tail
            if len(self._buffer) > self._max_length:
                self._discard(len(self._buffer))
                self._discarding = True
        return lines

    def reset(self) -> None:
        """Forget a partial line (e.g. after the device was unplugged)."""
        self._buffer.clear()
        self._discarding = False

    def _end_line(self, part: bytes) -> bytes:
        if self._discarding:
            self._discarding = False
            return b""
        line = bytes(self._buffer + part)
        self._buffer.clear()
        if len(line) > self._max_length:
            self._discard(len(line))
            return b""
        return line.strip()

    def _discard(self, length: int) -> None:
        self._buffer.clear()
        logger.warning(
            "%s: discarded a line of %s bytes or more (longest allowed %s)",
            self._label,
            length,
            self._max_length,
        )
