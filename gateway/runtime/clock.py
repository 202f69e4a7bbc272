"""Facts about this computer's clock: wall time, NTP synchronisation, boot identity."""

from __future__ import annotations

import ctypes
import ctypes.util
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

_TIME_ERROR = 5  # adjtimex() state when the kernel clock is not synchronised


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: we only read its state, so the tail is padding.
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]


class SystemClock:
    """The real clock. Tests pass their own object with the same three methods."""

    def __init__(self) -> None:
        libc_name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def synchronised(self) -> bool:
        """True when the kernel reports the clock as synchronised (NTP or PTP)."""
        if self._libc is None:
            return False
        timex = _Timex()
        state = self._libc.adjtimex(ctypes.byref(timex))
        return bool(state >= 0 and state != _TIME_ERROR)


def boot_id() -> str:
    """The kernel's id of this boot, so monotonic times can be compared within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(uuid.uuid4())


def uuid7(at: datetime) -> str:
    """A time-ordered UUID (version 7): 48 bits of Unix milliseconds, then randomness."""
    unix_ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(uuid.uuid4().bytes[6:], "big") & ((1 << 74) - 1)
    rand_a = rand >> 62
    rand_b = rand & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | ((rand_a & 0xFFF) << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))
