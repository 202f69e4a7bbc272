"""Subject pseudonyms: the only form in which a subject's identity leaves the issuing desk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
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


_NAME_SEPARATORS = re.compile(r"[\s<-]+")


def person_pseudonym(secret: bytes, *, family: str, given: str, birth_date: str) -> str:
    """The pseudonym of a person known by name and date of birth, as health codes name them.

    Names are compared the way travel documents standardise them (upper case; spaces,
    hyphens and '<' are one separator), so the EU DCC's 'MUSTERFRAU<GOESSINGER' and a
    'Musterfrau-Goessinger' typed elsewhere give the same pseudonym. Transliteration
    ('Gößinger') is the issuer's job and is not guessed here.
    """
    names = [_NAME_SEPARATORS.sub("<", normalise_subject_id(n)).strip("<") for n in (family, given)]
    return pseudonym(secret, f"{names[0]}<<{names[1]}|{birth_date.strip()}")
