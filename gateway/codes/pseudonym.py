"""Subject pseudonyms: the only form in which a subject's identity leaves the issuing desk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata


def normalise_subject_id(subject_id: str) -> str:
    """NFKC (full-width digits and letters become ASCII), trimmed, upper case."""
    return unicodedata.normalize("NFKC", subject_id).strip().upper()


def pseudonym(secret: bytes, subject_id: str) -> str:
    """HMAC-SHA256(site secret, normalised id), first 16 bytes, base32 lower case, no padding.

    The same person gets the same pseudonym at every gate of the site, and nobody without
    the site secret can tell who it is.
    """
    normalised = normalise_subject_id(subject_id)
    if not normalised:
        raise ValueError("the subject id is empty")
    if not secret:
        raise ValueError("the site secret is empty")
    digest = hmac.new(secret, normalised.encode("utf-8"), hashlib.sha256).digest()[:16]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()
