"""The first half of verifying a COSE-signed code, shared by the community pass and the EU
DCC: decode the text, find the signer's key in the trust list, check the signature, parse
the claims. Each failure is the `Credential` that says why."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from gateway.codes import cose
from gateway.codes.cose import CoseError, Layer
from gateway.codes.times import aware
from gateway.codes.trust import KeyFormat, TrustedKey, TrustStore
from gateway.core.values import CodeCheck, Credential

MAX_KID = 64  # bytes; the bound keeps a hostile key id out of details and logs

Claims = TypeVar("Claims")


@dataclass(frozen=True, slots=True)
class Signed(Generic[Claims]):
    """A code whose signature a trusted key verified."""

    kid: str
    key: TrustedKey
    claims: Claims


@dataclass(frozen=True, slots=True)
class SignedFormat(Generic[Claims]):
    """How one format is signed: its prefix, key format, and claims parser (which raises
    `CoseError` for claims it cannot read)."""

    name: str
    prefix: bytes
    key_format: KeyFormat
    parse: Callable[[bytes], Claims]
    require_zlib: bool = False
    kid_bytes: int = MAX_KID  # longer key ids are cut to this, as reference verifiers do


def open_signed(
    payload: bytes, signed: SignedFormat[Claims], trust: TrustStore
) -> Signed[Claims] | Credential:
    """The verified claims, or the credential of the first check that failed."""
    name = signed.name
    try:
        message = cose.decode_text(payload, signed.prefix, require_zlib=signed.require_zlib)
    except CoseError as exc:
        return Credential(format=name, check=CodeCheck.UNREADABLE, detail=str(exc))
    if message.kid is None or not 0 < len(message.kid) <= MAX_KID:
        return Credential(format=name, check=CodeCheck.UNREADABLE, detail="cose: bad key id")
    kid = base64.b64encode(message.kid[: signed.kid_bytes]).decode("ascii")
    key = trust.lookup(kid, signed.key_format)
    if key is None:
        return Credential(
            format=name,
            check=CodeCheck.UNKNOWN_ISSUER,
            kid=kid,
            detail=f"key {kid} is not in trust list version {trust.current.version}",
        )
    try:
        cose.verify_signature(message, key.public_key)
        claims = signed.parse(message.payload)
    except CoseError as exc:
        forged = exc.layer is Layer.SIGNATURE
        check = CodeCheck.BAD_SIGNATURE if forged else CodeCheck.UNREADABLE
        return Credential(format=name, check=check, kid=kid, detail=str(exc))
    return Signed(kid, key, claims)


def verify_signed(
    payload: bytes,
    signed: SignedFormat[Claims],
    trust: TrustStore,
    now: datetime,
    judge: Callable[[Signed[Claims], datetime], Credential],
) -> Credential:
    """Open the code, then let its format judge the verified claims at `now` (UTC if naive)."""
    opened = open_signed(payload, signed, trust)
    return opened if isinstance(opened, Credential) else judge(opened, aware(now))
