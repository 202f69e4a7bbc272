"""The EU Digital COVID Certificate: `HC1:` + Base45(zlib(COSE_Sign1(CWT))).

The CWT claims (CBOR map, integer keys)::

    1 iss (country)    4 exp    6 iat    -260 {1: hcert}
    hcert = {"ver", "nam": {"fn", "fnt", "gn", "gnt"}, "dob", and one of "v", "t", "r"}

Signed with ES256 or PS256 by a document signer whose X.509 certificate is in the trust list
(a `dcc` key, kid = first 8 bytes of SHA-256 over the certificate). Checks, in order: the
layers (`cose.Layer`), the key id (protected header first), the signature, the claims, the
signer's validity and the code's (`exp`, `iat`), then the certificate's key usage (may this
signer make this kind of statement). A DCC carries no colour: a valid one takes the site's
`ColourRule`. The subject is a pseudonym of the standardised names and the date of birth.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.codes import cose
from gateway.codes.cose import CoseError, Layer
from gateway.codes.health import ColourRule, Statement
from gateway.codes.pseudonym import person_pseudonym
from gateway.codes.signed import Signed, SignedFormat, verify_signed
from gateway.codes.times import CLOCK_SKEW, numeric_date
from gateway.codes.trust import KeyFormat, TrustedKey, TrustStore
from gateway.core.masking import mask_name
from gateway.core.values import CodeCheck, CodeStatus, Credential

log = logging.getLogger(__name__)

PREFIX = b"HC1:"
NAME = "dcc"

_MAX_NAME = 80  # the DCC schema's limit for each name field
_ISS, _EXP, _IAT, _HCERT = 1, 4, 6, -260
_STATEMENTS = {"v": Statement.VACCINATION, "t": Statement.TEST, "r": Statement.RECOVERY}


@dataclass(frozen=True, slots=True)
class HealthCertificate:
    """The claims of one DCC that the gate uses; the medical details are not kept."""

    country: str | None
    issued_at: datetime
    expires_at: datetime
    statement: Statement
    family: str  # standardised (ICAO 9303 transliteration), e.g. 'MUSTERFRAU<GOESSINGER'
    given: str  # standardised; may be empty
    display_name: str  # as written, e.g. 'Gabriele Musterfrau-Gößinger'
    birth_date: str  # as written: 'YYYY-MM-DD', partial, or empty

    @classmethod
    def from_payload(cls, payload: bytes) -> HealthCertificate:
        """Read the CWT claims; every problem is a `CoseError` of the payload layer."""
        claims = cose.decode_payload(payload)
        try:
            return cls._from_claims(claims)
        except (KeyError, TypeError, ValueError) as exc:
            raise CoseError(Layer.PAYLOAD, str(exc).strip("'\"")) from None

    @classmethod
    def _from_claims(cls, claims: Mapping[object, object]) -> HealthCertificate:
        country = claims.get(_ISS)
        if country is not None and not isinstance(country, str):
            raise TypeError("iss is not text")
        for key, name in ((_EXP, "exp"), (_IAT, "iat")):
            if key not in claims:
                raise KeyError(f"missing claim {name}")
        hcert_claim = claims.get(_HCERT)
        hcert = hcert_claim.get(1) if isinstance(hcert_claim, Mapping) else None
        if not isinstance(hcert, Mapping):
            raise TypeError("no health certificate (claim -260, key 1) as a map")
        names = hcert.get("nam")
        if not isinstance(names, Mapping):
            raise TypeError("nam is not a map")
        family = _name(names, "fnt")
        if not family:
            raise ValueError("nam.fnt (standardised family name) is missing")
        birth_date = hcert.get("dob")
        if not isinstance(birth_date, str):
            raise TypeError("dob is missing or not text")
        given = _name(names, "gnt")
        written = [_name(names, "gn") or given, _name(names, "fn") or family]
        return cls(
            country=country,
            issued_at=numeric_date(claims[_IAT], "iat"),
            expires_at=numeric_date(claims[_EXP], "exp"),
            statement=_statement(hcert),
            family=family,
            given=given,
            display_name=" ".join(name for name in written if name),
            birth_date=birth_date[:10],
        )


def _name(names: Mapping[object, object], key: str) -> str:
    value = names.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > _MAX_NAME:
        raise ValueError(f"nam.{key} is not a name of up to {_MAX_NAME} characters")
    return value.strip()


def _statement(hcert: Mapping[object, object]) -> Statement:
    # Some issuers write the two absent kinds as null or []: only a non-empty list counts.
    present = [s for key, s in _STATEMENTS.items() if isinstance(v := hcert.get(key), list) and v]
    if len(present) != 1:
        raise ValueError("a DCC holds exactly one of v, t and r")
    return present[0]


# The DCC key id is 8 bytes; longer ones are cut, as the reference verifiers do.
_SIGNED = SignedFormat(
    NAME, PREFIX, KeyFormat.DCC, HealthCertificate.from_payload, require_zlib=True, kid_bytes=8
)


class DccFormat:
    """Verifies `HC1:` certificates offline against the `dcc` keys of a `TrustStore`.

    Without a site `secret` the credential carries no subject pseudonym.
    """

    name = NAME

    def __init__(
        self,
        trust: TrustStore,
        *,
        secret: bytes | None = None,
        colours: ColourRule = ColourRule(),  # noqa: B008 - a frozen value
    ) -> None:
        self._trust = trust
        self._secret = secret
        self._colours = colours

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(PREFIX)

    def verify(self, payload: bytes, now: datetime) -> Credential:
        """Every failure is a `Credential` with its check."""
        return verify_signed(payload, _SIGNED, self._trust, now, self._credential)

    def _credential(self, signed: Signed[HealthCertificate], now: datetime) -> Credential:
        kid, key, claims = signed.kid, signed.key, signed.claims
        check, detail = _judge(key, claims, now)
        valid = check is CodeCheck.VALID
        return Credential(
            format=NAME,
            check=check,
            status=self._colours.colour(claims.statement) if valid else CodeStatus.UNKNOWN,
            subject=self._subject(claims),
            label=mask_name(claims.display_name),
            issuer=claims.country or key.issuer or None,
            kid=kid,
            issued_at=claims.issued_at,
            expires_at=claims.expires_at,
            detail=detail,
        )

    def _subject(self, claims: HealthCertificate) -> str | None:
        if self._secret is None:
            return None
        return person_pseudonym(
            self._secret, family=claims.family, given=claims.given, birth_date=claims.birth_date
        )


def _judge(key: TrustedKey, claims: HealthCertificate, now: datetime) -> tuple[CodeCheck, str]:
    """Validity of the signer and of the certificate, then the signer's key usage."""
    signer = key.certificate
    if key.not_after is not None and now > key.not_after:
        return CodeCheck.EXPIRED, f"the signing key expired at {key.not_after.isoformat()}"
    if signer is not None and now > signer.not_after:
        expired = signer.not_after.isoformat()
        return CodeCheck.EXPIRED, f"the signer certificate expired at {expired}"
    if signer is not None and now < signer.not_before:
        valid_from = signer.not_before.isoformat()
        return CodeCheck.NOT_YET_VALID, f"the signer certificate is valid from {valid_from}"
    # exp itself is the last valid second: the EU test data accepts a check at exactly exp.
    if now > claims.expires_at:
        return CodeCheck.EXPIRED, f"expired at {claims.expires_at.isoformat()}"
    if claims.issued_at - CLOCK_SKEW > now:
        return CodeCheck.NOT_YET_VALID, f"issued in the future, at {claims.issued_at.isoformat()}"
    if signer is not None and not signer.allows(claims.statement):
        return (
            CodeCheck.UNKNOWN_ISSUER,
            f"key-usage: the signer of key {key.kid} may not sign {claims.statement.value} "
            "certificates",
        )
    return CodeCheck.VALID, ""
