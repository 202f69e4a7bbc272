"""Card revocation lists of SMART Health Card issuers (method "rid"), one per issuer key.

The issuer publishes `<iss>/.well-known/crl/<kid>.json`::

    {"kid": "3Kfdg-...", "method": "rid", "ctr": 1,
     "rids": ["vwAjHdarZuc.1687450765", "FKDIxsTCGlU"]}

A card names its revocation id in `vc.rid`. A listed rid revokes every card carrying it; a
rid with a `.<timestamp>` suffix (seconds since the epoch) revokes only the cards issued
(`nbf`) before that time, so cards issued again afterwards stay valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# base64url, at most 24 characters, optionally "." and whole seconds.
_ENTRY = re.compile(r"([A-Za-z0-9_-]{1,24})(?:\.(\d{1,12}))?")


@dataclass(frozen=True, slots=True)
class RevocationList:
    """Revoked card ids of one key: rid → cut-off time (seconds), or None for every card."""

    ctr: int = 0
    rids: Mapping[str, int | None] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, ctr: Any, entries: Any) -> RevocationList:
        """From the `ctr` and `rids` of a CRL; ValueError names a bad entry."""
        if isinstance(ctr, bool) or not isinstance(ctr, int) or ctr < 0:
            raise ValueError(f"ctr must be a whole number >= 0, not {ctr!r}")
        if not isinstance(entries, list):
            raise ValueError("rids must be a list")
        rids: dict[str, int | None] = {}
        for entry in entries:
            match = _ENTRY.fullmatch(entry) if isinstance(entry, str) else None
            if match is None:
                raise ValueError(f"rid {entry!r} is not base64url (up to 24) with an optional time")
            rid, cutoff = match.group(1), match.group(2)
            earlier = rids.get(rid, 0)
            # A rid listed twice: no cut-off beats any, a later cut-off beats an earlier one.
            if cutoff is None or earlier is None:
                rids[rid] = None
            else:
                rids[rid] = max(int(cutoff), earlier)
        return cls(ctr=ctr, rids=rids)

    def entries(self) -> list[str]:
        """The rids in CRL form, sorted."""
        return sorted(
            rid if cutoff is None else f"{rid}.{cutoff}" for rid, cutoff in self.rids.items()
        )

    def revokes(self, rid: str, issued_at: float) -> bool:
        """True when the card with this rid, issued at `issued_at` (its nbf), is revoked."""
        if rid not in self.rids:
            return False
        cutoff = self.rids[rid]
        return cutoff is None or issued_at < cutoff


def parse_crl(document: Any, kid: str) -> RevocationList:
    """A CRL document of the key `kid`; ValueError names what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if document.get("kid") != kid:
        raise ValueError(f"it is the list of key {document.get('kid')!r}, not of {kid!r}")
    if document.get("method") != "rid":
        raise ValueError(f"method {document.get('method')!r} is not supported (only 'rid')")
    return RevocationList.from_entries(document.get("ctr"), document.get("rids"))
