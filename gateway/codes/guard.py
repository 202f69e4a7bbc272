"""The last line of defence around a verifier: whatever the bytes, a credential comes back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from gateway.core.values import CodeCheck, Credential

log = logging.getLogger(__name__)


def verify_never_raising(
    verify: Callable[[bytes, datetime], Credential],
    payload: bytes,
    now: datetime,
    *,
    format_name: str,
) -> Credential:
    """Run `verify` with an aware `now`; an unexpected error is logged and read as unreadable.

    The verifiers handle every failure they know; this only keeps a bug from crashing the gate.
    """
    try:
        return verify(payload, now if now.tzinfo else now.replace(tzinfo=UTC))
    except Exception:  # the one broad handler: the specific failures are handled by `verify`
        log.exception("%s: unexpected error while verifying a code", format_name)
        return Credential(
            format=format_name, check=CodeCheck.UNREADABLE, detail="internal error reading the code"
        )
