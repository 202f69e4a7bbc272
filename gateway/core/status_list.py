"""The status list: the community's current colour for a subject, newer than any pass."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gateway.core.values import CodeCheck, CodeStatus, Credential


@dataclass(frozen=True, slots=True)
class StatusList:
    """Subject pseudonym → colour, with a version; a higher version supersedes a lower one."""

    version: int = 0
    issued_at: datetime | None = None
    site: str = ""
    colours: Mapping[str, CodeStatus] = field(default_factory=dict)


def apply_status_list(credential: Credential, status: StatusList) -> tuple[Credential, bool]:
    """The credential with the status list's colour when the list is newer than the pass.

    Returns the (possibly changed) credential and whether the list decided its colour.
    Only verified credentials are touched: a forged pass gains nothing from the list.
    """
    if credential.check is not CodeCheck.VALID or credential.subject is None:
        return credential, False
    colour = status.colours.get(credential.subject)
    if colour is None or status.issued_at is None:
        return credential, False
    if credential.issued_at is not None and status.issued_at <= credential.issued_at:
        return credential, False
    if colour is credential.status:
        return credential, False
    return dataclasses.replace(credential, status=colour), True
