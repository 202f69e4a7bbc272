"""What a doctor check finds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    """The result of one check: what was checked, how it went, and what to do about it."""

    check: str
    status: Status
    detail: str
    advice: str = ""
