"""Times in signed claims: the clock skew a gate forgives and NumericDate values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

# A gate's clock may run behind the issuer's; a code issued moments ago is not "future".
CLOCK_SKEW = timedelta(minutes=5)

_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold


def numeric_date(value: object, name: str) -> datetime:
    """A JWT/CWT NumericDate (seconds since the epoch, whole or fractional) as UTC.

    ValueError names the claim when the value is no number or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} is not a number of seconds")
    if not math.isfinite(value) or not 0 <= value <= _MAX_SECONDS:
        raise ValueError(f"{name} is out of range")
    return datetime.fromtimestamp(value, UTC)


def aware(now: datetime) -> datetime:
    """`now` with a time zone: a naive time is taken as UTC."""
    return now if now.tzinfo else now.replace(tzinfo=UTC)
