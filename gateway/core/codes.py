"""The code-format interface: every format turns a payload into a `Credential`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from gateway.core.values import CodeCheck, Credential


class CodeFormat(Protocol):
    """One kind of code (community pass, EU DCC, ...). Verification never raises."""

    name: str

    def matches(self, payload: bytes) -> bool:
        """True when the payload is of this format (by its prefix), valid or not."""
        ...

    def verify(self, payload: bytes, now: datetime) -> Credential:
        """Decode and check the payload offline; every failure is a `CodeCheck`."""
        ...


def read_code(payload: bytes, formats: Sequence[CodeFormat], now: datetime) -> Credential:
    """The credential of the first format that claims the payload, else `unverifiable`."""
    for code_format in formats:
        if code_format.matches(payload):
            return code_format.verify(payload, now)
    if not payload.strip():
        return Credential(format="none", check=CodeCheck.UNREADABLE, detail="empty payload")
    return Credential(format="other", check=CodeCheck.UNVERIFIABLE)


def payload_digest(payload: bytes) -> str:
    """SHA-256 of the raw payload, hex. The raw payload itself is never stored."""
    return hashlib.sha256(payload).hexdigest()
