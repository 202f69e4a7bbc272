"""SMART Health Cards: `shc:/` + numeric-encoded compact JWS, ES256, raw-DEFLATE payload.

    shc:/5676290952...            one QR code: two digits per JWS character (value + 45)
    shc:/2/3/5676290952...        chunk 2 of 3 of a card too large for one QR code

Chunks come in consecutive scans and are joined by a `ChunkAssembler`; until the last one
arrives, a chunk reads as `partial` with a detail like "chunk 1 of 3 read, waiting for
2, 3". The JWS header is {"zip": "DEF", "alg": "ES256", "kid": <RFC 7638
thumbprint>}; the payload (iss, nbf, exp?, vc: {type, credentialSubject: {fhirBundle},
rid?}) is checked against the `shc` keys of a `TrustStore`: key bound to `iss`, signature,
revocation of `vc.rid` by the key's CRL, then `nbf` and `exp`. The subject is a pseudonym of
the FHIR Patient's name and birth date.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.codes.cose import MAX_TEXT
from gateway.codes.health import ColourRule, Statement
from gateway.codes.inflate import RAW, inflate
from gateway.codes.jose import b64url_decode, verify_es256
from gateway.codes.pseudonym import person_pseudonym
from gateway.codes.times import CLOCK_SKEW, aware, numeric_date
from gateway.codes.trust import KeyFormat, TrustStore
from gateway.core.errors import CheckpointError
from gateway.core.masking import mask_name
from gateway.core.values import CodeCheck, CodeStatus, Credential

PREFIX = b"shc:/"
NAME = "shc"
MAX_CHUNKS = 10
# Chunks of one card are scanned one after another; older ones are not waited for.
CHUNK_TIMEOUT = timedelta(seconds=60)

_SCAN = re.compile(rb"shc:/(?:([0-9]{1,2})/([0-9]{1,2})/)?([0-9]*)")
_OFFSET = 45  # '-' : each pair of digits is a character's code minus this
_MAX_CHARACTER = ord("z") - _OFFSET
_MAX_KID = 64
_STATEMENTS = {
    "https://smarthealth.cards#immunization": Statement.VACCINATION,
    "https://smarthealth.cards#laboratory": Statement.TEST,
}
_RESOURCE_STATEMENTS = {
    frozenset({"Immunization"}): Statement.VACCINATION,
    frozenset({"Observation"}): Statement.TEST,
}


class CardError(CheckpointError):
    """A card failed a check; `check` is the verdict, the message says where and why."""

    def __init__(self, check: CodeCheck, stage: str, detail: str, kid: str | None = None) -> None:
        super().__init__(f"{stage}: {detail}")
        self.check = check
        self.kid = kid


def _unreadable(stage: str, detail: str) -> CardError:
    return CardError(CodeCheck.UNREADABLE, stage, detail)


@dataclass(frozen=True, slots=True)
class Assembly:
    """Where a multi-chunk card stands after one more chunk."""

    total: int
    read: tuple[int, ...]
    digits: str | None = None  # the whole card, once every chunk is in

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(n for n in range(1, self.total + 1) if n not in self.read)


@dataclass
class _Pending:
    total: int
    started: datetime
    chunks: dict[int, str] = field(default_factory=dict)


class ChunkAssembler:
    """Joins the chunks of one card read in consecutive scans (thread-safe).

    A chunk that does not fit the card being collected (another chunk count, the same
    chunk number with other content, or the first chunk older than `timeout`) starts over:
    it belongs to another card. At most one card is collected at a time.
    """

    def __init__(self, timeout: timedelta = CHUNK_TIMEOUT) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: _Pending | None = None

    def add(self, number: int, total: int, digits: str, now: datetime) -> Assembly:
        with self._lock:
            pending = self._pending
            if (
                pending is None
                or pending.total != total
                or not pending.started <= now <= pending.started + self._timeout
                or pending.chunks.get(number, digits) != digits
            ):
                pending = self._pending = _Pending(total=total, started=now)
            pending.chunks[number] = digits
            read = tuple(sorted(pending.chunks))
            if len(read) < total:
                return Assembly(total=total, read=read)
            self._pending = None
        return Assembly(total=total, read=read, digits="".join(pending.chunks[n] for n in read))


@dataclass(frozen=True, slots=True)
class _Person:
    family: str
    given: str
    birth_date: str


@dataclass(frozen=True, slots=True)
class _Card:
    issuer: str
    issued_at: datetime
    expires_at: datetime | None
    rid: str | None
    statement: Statement | None
    person: _Person | None  # not every card names its patient (a lab report may not)

    @property
    def nbf(self) -> float:
        return self.issued_at.timestamp()


class ShcFormat:
    """Verifies `shc:/` cards offline against the `shc` keys of a `TrustStore`.

    Without a site `secret` the credential carries no subject pseudonym. An instance
    collects the chunks of one multi-chunk card at a time: chunks of two cards scanned
    at once (at two lanes) start each other over.
    """

    name = NAME

    def __init__(
        self,
        trust: TrustStore,
        *,
        secret: bytes | None = None,
        colours: ColourRule = ColourRule(),  # noqa: B008 - a frozen value
        assembler: ChunkAssembler | None = None,
    ) -> None:
        self._trust = trust
        self._secret = secret
        self._colours = colours
        self._assembler = assembler if assembler is not None else ChunkAssembler()

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(PREFIX)

    def verify(self, payload: bytes, now: datetime) -> Credential:
        """Every failure is a `Credential` with its check."""
        return _guarded(lambda: self._verify(payload, aware(now)))

    def verify_jws(self, jws: str, now: datetime) -> Credential:
        """Check one compact JWS, as a `.smart-health-card` file holds it."""
        return _guarded(lambda: self._check_jws(jws, aware(now)))

    def _verify(self, payload: bytes, now: datetime) -> Credential:
        digits = self._digits(payload, now)
        if isinstance(digits, Assembly):
            waiting = ", ".join(str(n) for n in digits.missing)
            detail = f"chunk {len(digits.read)} of {digits.total} read, waiting for {waiting}"
            return Credential(format=NAME, check=CodeCheck.PARTIAL, detail=detail)
        return self._check_jws(numeric_decode(digits), now)

    def _digits(self, payload: bytes, now: datetime) -> str | Assembly:
        text = payload.rstrip(b"\r\n")
        if len(text) > MAX_TEXT:
            raise _unreadable("numeric", f"longer than {MAX_TEXT} characters")
        match = _SCAN.fullmatch(text)
        if match is None:
            raise _unreadable("numeric", "not 'shc:/' followed by digits")
        number, total, digits = match.groups()
        if not digits:
            raise _unreadable("numeric", "no digits after the prefix")
        if total is None:
            return digits.decode("ascii")
        chunk, count = int(number), int(total)
        if not 1 <= chunk <= count <= MAX_CHUNKS:
            raise _unreadable("numeric", f"chunk {chunk} of {count} (at most {MAX_CHUNKS})")
        if len(digits) % 2:
            raise _unreadable("numeric", f"chunk {chunk} has an odd number of digits")
        assembly = self._assembler.add(chunk, count, digits.decode("ascii"), now)
        return assembly if assembly.digits is None else assembly.digits

    def _check_jws(self, jws: str, now: datetime) -> Credential:
        """Raises `CardError` for every failed check."""
        if not jws.isascii():
            raise _unreadable("jws", "not ASCII text")
        header_part, payload_part, signature_part = _split(jws)
        kid = _kid(_json_object(header_part, "jws", "header"))
        key = self._trust.lookup(kid, KeyFormat.SHC)
        if key is None:
            version = self._trust.current.version
            detail = f"key {kid} is not in trust list version {version}"
            raise CardError(CodeCheck.UNKNOWN_ISSUER, "issuer", detail, kid)
        signature = _b64url(signature_part, "jws", "signature")
        signed = f"{header_part}.{payload_part}".encode("ascii")
        if not verify_es256(key.public_key, signature, signed):
            raise CardError(CodeCheck.BAD_SIGNATURE, "signature", "does not verify", kid)
        try:
            card = _card(_inflated_json(payload_part))
        except CardError as exc:
            exc.kid = kid
            raise
        if key.issuer and card.issuer != key.issuer:
            detail = f"key {kid} is not trusted for issuer {card.issuer!r}"
            raise CardError(CodeCheck.UNKNOWN_ISSUER, "issuer", detail, kid)
        revocations, rid = key.revocations, card.rid
        if revocations is not None and rid is not None and revocations.revokes(rid, card.nbf):
            check, detail = CodeCheck.REVOKED, f"revoked by the issuer (rid {rid})"
        else:
            check, detail = _validity(key.not_after, card, now)
        valid = check is CodeCheck.VALID
        return Credential(
            format=NAME,
            check=check,
            status=self._colours.colour(card.statement) if valid else CodeStatus.UNKNOWN,
            subject=self._subject(card.person),
            label=None if card.person is None else _label(card.person),
            issuer=card.issuer,
            kid=kid,
            issued_at=card.issued_at,
            expires_at=card.expires_at,
            detail=detail,
        )

    def _subject(self, person: _Person | None) -> str | None:
        if self._secret is None or person is None:
            return None
        return person_pseudonym(
            self._secret, family=person.family, given=person.given, birth_date=person.birth_date
        )


def _label(person: _Person) -> str:
    return mask_name(" ".join(name for name in (person.given, person.family) if name))


def _guarded(check: Callable[[], Credential]) -> Credential:
    try:
        return check()
    except CardError as exc:
        return Credential(format=NAME, check=exc.check, kid=exc.kid, detail=str(exc))


def numeric_decode(digits: str) -> str:
    """The characters of a numeric QR payload: each pair of digits + 45. Raises `CardError`."""
    if len(digits) % 2:
        raise _unreadable("numeric", "an odd number of digits")
    values = [int(digits[i : i + 2]) for i in range(0, len(digits), 2)]
    for position, value in enumerate(values):
        if value > _MAX_CHARACTER:
            raise _unreadable(
                "numeric", f"digit pair {value:02d} at {2 * position} is no character"
            )
    return "".join(chr(value + _OFFSET) for value in values)


def _split(jws: str) -> tuple[str, str, str]:
    parts = jws.split(".")
    if len(parts) != 3:
        raise _unreadable("jws", "not a compact JWS of three parts")
    return parts[0], parts[1], parts[2]


def _b64url(text: str, stage: str, what: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise _unreadable(stage, f"the {what} is not base64url") from None


def _json_object(text: str, stage: str, what: str) -> Mapping[str, Any]:
    return _parse_json(_b64url(text, stage, what), stage, what)


def _parse_json(data: bytes, stage: str, what: str) -> Mapping[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _unreadable(stage, f"the {what} is not JSON") from None
    if not isinstance(document, dict):
        raise _unreadable(stage, f"the {what} is not a JSON object")
    return document


def _kid(header: Mapping[str, Any]) -> str:
    if header.get("alg") != "ES256":
        raise _unreadable("jws", f"alg {header.get('alg')!r} is not ES256")
    if header.get("zip") != "DEF":
        raise _unreadable("jws", "the payload is not marked as compressed (zip 'DEF')")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= _MAX_KID:
        raise _unreadable("jws", "no usable kid in the header")
    return kid


def _inflated_json(payload_part: str) -> Mapping[str, Any]:
    try:
        data = inflate(_b64url(payload_part, "payload", "payload"), wbits=RAW)
    except ValueError as exc:
        raise _unreadable("compression", str(exc)) from None
    return _parse_json(data, "payload", "payload")


def _card(claims: Mapping[str, Any]) -> _Card:
    try:
        return _read_card(claims)
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable("payload", str(exc).strip("'\"")) from None


def _read_card(claims: Mapping[str, Any]) -> _Card:
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TypeError("iss is missing or not text")
    issued_at = numeric_date(claims.get("nbf"), "nbf")
    expires = claims.get("exp")
    vc = claims.get("vc")
    if not isinstance(vc, dict):
        raise TypeError("vc is missing or not an object")
    rid = vc.get("rid")
    if rid is not None and not isinstance(rid, str):
        raise TypeError("vc.rid is not text")
    types = vc.get("type")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(types, list) or not isinstance(entries, list):
        raise TypeError("vc has no type list or no FHIR bundle entries")
    resources = [e["resource"] for e in entries if isinstance(e, dict) and "resource" in e]
    kinds = frozenset(str(r.get("resourceType")) for r in resources if isinstance(r, dict))
    statement = next((_STATEMENTS[t] for t in types if t in _STATEMENTS), None)
    return _Card(
        issuer=issuer,
        issued_at=issued_at,
        expires_at=None if expires is None else numeric_date(expires, "exp"),
        rid=rid,
        statement=statement or _RESOURCE_STATEMENTS.get(kinds - {"Patient"}),
        person=_patient(resources),
    )


def _patient(resources: list[Any]) -> _Person | None:
    """The name and birth date of the card's Patient; None when it names no one."""
    patient = next(
        (r for r in resources if isinstance(r, dict) and r.get("resourceType") == "Patient"), None
    )
    names = patient.get("name") if patient is not None else None
    name = names[0] if isinstance(names, list) and names else None
    if patient is None or not isinstance(name, dict):
        return None
    family = name.get("family", "")
    given = name.get("given", [])
    birth_date = patient.get("birthDate", "")
    if not isinstance(given, list) or not all(isinstance(g, str) for g in given):
        raise TypeError("the Patient's given names are not a list of text")
    if not isinstance(family, str) or not isinstance(birth_date, str):
        raise TypeError("the Patient's family name or birth date is not text")
    person = _Person(family.strip(), " ".join(g.strip() for g in given if g.strip()), birth_date)
    return person if person.family or person.given else None


def _validity(key_not_after: datetime | None, card: _Card, now: datetime) -> tuple[CodeCheck, str]:
    if key_not_after is not None and now > key_not_after:
        return CodeCheck.EXPIRED, f"the signing key expired at {key_not_after.isoformat()}"
    if card.issued_at - CLOCK_SKEW > now:
        return CodeCheck.NOT_YET_VALID, f"not valid before {card.issued_at.isoformat()}"
    if card.expires_at is not None and now >= card.expires_at:
        return CodeCheck.EXPIRED, f"expired at {card.expires_at.isoformat()}"
    return CodeCheck.VALID, ""
