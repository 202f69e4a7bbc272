"""The community pass: `CP1:` + Base45(zlib(COSE_Sign1(claims))), signed by the community server.

The claims are a CBOR map with short text keys:

    iss   issuer (the community)            sub   subject pseudonym (`gateway.codes.pseudonym`)
    lbl   masked name, e.g. '张*华'          unit  building-entrance-room, e.g. '3-2-501'
    col   'green' | 'yellow' | 'red'        iat, exp   issued / expires, Unix seconds (integers)

The key id (first 8 bytes of SHA-256 of the public key) travels in the protected header.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import cbor2

from gateway.codes import cose
from gateway.codes.cose import CoseError, Layer, PrivateKey
from gateway.codes.signed import Signed, SignedFormat, verify_signed
from gateway.codes.times import CLOCK_SKEW
from gateway.codes.trust import KeyFormat, TrustedKey, TrustStore
from gateway.core.values import CodeCheck, CodeStatus, Credential

log = logging.getLogger(__name__)

PREFIX = b"CP1:"
NAME = "cp1"

_MAX_TEXT = 64
_MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
_COLOURS = {c.value: c for c in (CodeStatus.GREEN, CodeStatus.YELLOW, CodeStatus.RED)}


@dataclass(frozen=True, slots=True)
class PassClaims:
    """The claims of one pass; construction validates them (ValueError)."""

    issuer: str
    subject: str
    label: str
    unit: str
    colour: CodeStatus
    issued_at: int
    expires_at: int

    def __post_init__(self) -> None:
        texts = (("iss", self.issuer), ("sub", self.subject), ("lbl", self.label))
        for key, text in (*texts, ("unit", self.unit)):
            if not 0 < len(text) <= _MAX_TEXT:
                raise ValueError(f"{key} must have 1 to {_MAX_TEXT} characters")
        if self.colour not in _COLOURS.values():
            raise ValueError(f"col must be one of {', '.join(_COLOURS)}")
        for key, seconds in (("iat", self.issued_at), ("exp", self.expires_at)):
            if not 0 <= seconds <= _MAX_TIME:
                raise ValueError(f"{key} is out of range")
        if self.expires_at <= self.issued_at:
            raise ValueError("exp is not after iat")

    @classmethod
    def from_payload(cls, payload: bytes) -> PassClaims:
        """Read and validate the claims; every problem is a `CoseError` of the payload layer."""
        claims = cose.decode_payload(payload)
        colour = _text(claims, "col")
        if colour not in _COLOURS:
            raise CoseError(Layer.PAYLOAD, f"col must be one of {', '.join(_COLOURS)}")
        try:
            return cls(
                issuer=_text(claims, "iss"),
                subject=_text(claims, "sub"),
                label=_text(claims, "lbl"),
                unit=_text(claims, "unit"),
                colour=_COLOURS[colour],
                issued_at=_seconds(claims, "iat"),
                expires_at=_seconds(claims, "exp"),
            )
        except ValueError as exc:
            raise CoseError(Layer.PAYLOAD, str(exc)) from None

    def to_payload(self) -> bytes:
        return cbor2.dumps(
            {
                "iss": self.issuer,
                "sub": self.subject,
                "lbl": self.label,
                "unit": self.unit,
                "col": self.colour.value,
                "iat": self.issued_at,
                "exp": self.expires_at,
            }
        )


def _text(claims: Mapping[object, object], key: str) -> str:
    value = claims.get(key)
    if value is None:
        raise CoseError(Layer.PAYLOAD, f"missing claim {key!r}")
    if not isinstance(value, str):
        raise CoseError(Layer.PAYLOAD, f"claim {key!r} is not text")
    return value


def _seconds(claims: Mapping[object, object], key: str) -> int:
    value = claims.get(key)
    if value is None:
        raise CoseError(Layer.PAYLOAD, f"missing claim {key!r}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise CoseError(Layer.PAYLOAD, f"claim {key!r} is not a whole number of seconds")
    return value


_SIGNED = SignedFormat(NAME, PREFIX, KeyFormat.CP1, PassClaims.from_payload)


class CommunityPassFormat:
    """Verifies `CP1:` passes offline against the keys of a `TrustStore`."""

    name = NAME

    def __init__(self, trust: TrustStore) -> None:
        self._trust = trust

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(PREFIX)

    def verify(self, payload: bytes, now: datetime) -> Credential:
        """Every failure is a `Credential` with its check."""
        return verify_signed(payload, _SIGNED, self._trust, now, self._judge)

    def _judge(self, signed: Signed[PassClaims], now: datetime) -> Credential:
        kid, key, claims = signed.kid, signed.key, signed.claims
        if claims.issuer != key.issuer:
            return Credential(
                format=NAME,
                check=CodeCheck.UNKNOWN_ISSUER,
                kid=kid,
                detail=f"key {kid} is not trusted for issuer {claims.issuer!r}",
            )
        issued_at = datetime.fromtimestamp(claims.issued_at, UTC)
        expires_at = datetime.fromtimestamp(claims.expires_at, UTC)
        check, detail = _validity(key, issued_at, expires_at, now)
        return Credential(
            format=NAME,
            check=check,
            status=claims.colour,
            subject=claims.subject,
            label=f"{claims.label} {claims.unit}",
            issuer=claims.issuer,
            kid=kid,
            issued_at=issued_at,
            expires_at=expires_at,
            detail=detail,
        )


def _validity(
    key: TrustedKey, issued_at: datetime, expires_at: datetime, now: datetime
) -> tuple[CodeCheck, str]:
    if key.not_after is not None and now > key.not_after:
        return CodeCheck.EXPIRED, f"the signing key expired at {key.not_after.isoformat()}"
    if issued_at - CLOCK_SKEW > now:
        return CodeCheck.NOT_YET_VALID, f"issued in the future, at {issued_at.isoformat()}"
    if now >= expires_at:
        return CodeCheck.EXPIRED, f"expired at {expires_at.isoformat()}"
    return CodeCheck.VALID, ""


def issue_pass(
    *,
    signing_key: PrivateKey,
    kid: str,
    issuer: str,
    subject: str,
    label: str,
    unit: str,
    colour: CodeStatus,
    issued_at: datetime,
    expires_at: datetime,
) -> str:
    """Sign a pass and return its `CP1:` text. `subject` is a pseudonym, `label` already masked.

    Raises ValueError for claims a gate would not accept (empty or long texts, exp <= iat).
    """
    claims = PassClaims(
        issuer=issuer,
        subject=subject,
        label=label,
        unit=unit,
        colour=colour,
        issued_at=int(issued_at.timestamp()),
        expires_at=int(expires_at.timestamp()),
    )
    message = cose.sign1(claims.to_payload(), signing_key, base64.b64decode(kid, validate=True))
    return cose.encode_text(message, PREFIX)
