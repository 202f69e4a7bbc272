"""Trust lists: which issuer keys a gateway accepts, as a versioned value and its JSON file.

The JSON shape (also the payload of the retained `checkpoint/v1/{site}/trust` topic)::

    {"schema": 2, "version": 3, "issued_at": "2025-03-01T08:00:00+00:00", "site": "xiaojiang",
     "keys": [{"kid": "q5Kx0hL3m1U=", "format": "cp1", "issuer": "xiaojiang", "alg": "EdDSA",
               "public_key": "<base64 of SubjectPublicKeyInfo DER>", "not_after": null},
              {"kid": "DEsVUSvpFAE=", "format": "dcc", "issuer": "DE", "alg": "ES256",
               "public_key": "...", "certificate": "<base64 of the signer's X.509 DER>", ...},
              {"kid": "3Kfdg-XwP-...", "format": "shc", "alg": "ES256", "public_key": "...",
               "issuer": "https://spec.smarthealth.cards/examples/issuer",
               "crl": {"ctr": 1, "rids": ["vwAjHdarZuc.1687450765", ...]}, ...}]}

`format` says which kind of code a key may sign (default "cp1"): a health authority's DCC
signer must not be able to sign community passes. `certificate` and `crl` are optional.

Schema 1 (community-pass keys only, no `format`) is still read, and still written while a
list holds nothing else, so gateways that know only schema 1 keep working; a list with other
keys is schema 2, which those gateways refuse rather than take a DCC signer for a pass key.
Unknown fields are ignored so that a newer server can add some without breaking older gateways.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.codes.certificates import SignerCertificate
from gateway.codes.cose import Algorithm, PublicKey, algorithm_of
from gateway.codes.files import write_atomic
from gateway.codes.jose import thumbprint
from gateway.codes.revocation import RevocationList
from gateway.core.errors import CheckpointError

log = logging.getLogger(__name__)

SCHEMA = 2
_SCHEMAS = (1, 2)


class TrustListError(CheckpointError):
    """A trust list file or message is unreadable or malformed; the message says where and why."""


class KeyFormat(StrEnum):
    """The kind of code a trusted key may sign."""

    CP1 = "cp1"  # community pass
    DCC = "dcc"  # EU Digital COVID Certificate
    SHC = "shc"  # SMART Health Card


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """One issuer key: `kid` as it appears in trust lists (base64; for SHC the thumbprint).

    `issuer` is the issuer the key speaks for; empty only for keys a technician hands to
    `checkpoint check` directly, which are not bound to one.
    """

    kid: str
    issuer: str
    alg: Algorithm
    public_key: PublicKey
    not_after: datetime | None = None
    format: KeyFormat = KeyFormat.CP1
    certificate: SignerCertificate | None = None
    revocations: RevocationList | None = None


@dataclass(frozen=True, slots=True)
class TrustList:
    """A versioned set of trusted keys; a higher version supersedes a lower one."""

    version: int = 0
    issued_at: datetime | None = None
    site: str = ""
    keys: Mapping[str, TrustedKey] = field(default_factory=dict)


def load_trust_list(path: Path) -> TrustList:
    """The trust list in `path`; a missing file is the empty list (version 0)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return TrustList()
    except OSError as exc:
        raise TrustListError(f"{path}: cannot read the trust list: {exc.strerror}") from None
    return parse_trust_list(data, source=str(path))


def parse_trust_list(data: bytes | str, *, source: str) -> TrustList:
    """Parse and validate trust-list JSON; `source` names the file or topic in errors."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TrustListError(f"{source}: not valid JSON: {exc}") from None
    try:
        return _from_document(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise TrustListError(f"{source}: not a valid trust list: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)


def _from_document(document: Any) -> TrustList:
    if not isinstance(document, dict):
        raise TypeError("the document is not a JSON object")
    schema = document.get("schema", 1)
    if schema not in _SCHEMAS or isinstance(schema, bool):
        raise ValueError(f"schema {schema!r} is not supported (expected 1 or 2)")
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"version must be a whole number >= 0, not {version!r}")
    site = document.get("site", "")
    if not isinstance(site, str):
        raise TypeError("site must be a string")
    entries = document["keys"]
    if not isinstance(entries, list):
        raise TypeError("keys must be a list")
    keys: dict[str, TrustedKey] = {}
    for index, entry in enumerate(entries):
        try:
            key = _key_from_entry(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"keys[{index}]: {_describe(exc)}") from None
        if key.kid in keys:
            raise ValueError(f"keys[{index}]: kid {key.kid!r} appears twice")
        keys[key.kid] = key
    issued_at = _optional_time(document.get("issued_at"), "issued_at")
    return TrustList(version=version, issued_at=issued_at, site=site, keys=keys)


def _key_from_entry(entry: Any) -> TrustedKey:
    if not isinstance(entry, dict):
        raise TypeError("not a JSON object")
    for name in ("kid", "issuer", "alg", "public_key"):
        if not isinstance(entry[name], str) or not entry[name]:
            raise TypeError(f"{name} must be a non-empty string")
    alg = Algorithm.from_label(entry["alg"])
    try:
        der = base64.b64decode(entry["public_key"], validate=True)
    except binascii.Error:
        raise ValueError("public_key is not base64") from None
    try:
        loaded = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("public_key is not a public key we can read") from None
    if not isinstance(loaded, PublicKey) or algorithm_of(loaded) is not alg:
        raise ValueError(f"public_key is not an {alg.label} key")
    key_format = _key_format(entry.get("format", KeyFormat.CP1.value))
    if key_format is KeyFormat.SHC and not _is_thumbprint(entry["kid"], loaded):
        raise ValueError("the kid of a health-card key is its P-256 key's RFC 7638 thumbprint")
    return TrustedKey(
        kid=entry["kid"],
        issuer=entry["issuer"],
        alg=alg,
        public_key=loaded,
        not_after=_optional_time(entry.get("not_after"), "not_after"),
        format=key_format,
        certificate=_optional_certificate(entry.get("certificate"), der),
        revocations=_optional_crl(entry.get("crl")),
    )


def _key_format(value: Any) -> KeyFormat:
    try:
        return KeyFormat(value)
    except ValueError:
        allowed = ", ".join(f.value for f in KeyFormat)
        raise ValueError(f"format {value!r} is not one of {allowed}") from None


def _is_thumbprint(kid: str, public_key: PublicKey) -> bool:
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    return isinstance(public_key.curve, ec.SECP256R1) and kid == thumbprint(public_key)


def _optional_certificate(value: Any, public_key_der: bytes) -> SignerCertificate | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("certificate must be base64 text or null")
    try:
        certificate = SignerCertificate.from_der(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"certificate: {exc}") from None
    if _spki(certificate.public_key) != public_key_der:
        raise ValueError("certificate holds another key than public_key")
    return certificate


def _optional_crl(value: Any) -> RevocationList | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("crl must be an object or null")
    try:
        return RevocationList.from_entries(value.get("ctr"), value.get("rids"))
    except ValueError as exc:
        raise ValueError(f"crl: {exc}") from None


def _spki(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _optional_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an ISO 8601 string or null")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def trust_list_json(trust_list: TrustList) -> str:
    """The trust list as JSON, keys sorted by kid so equal lists give equal text.

    Schema 1 while every key is a plain community-pass key, else schema 2 (module docstring).
    """
    keys = [key for _, key in sorted(trust_list.keys.items())]
    schema = 1 if all(_is_schema_1(key) for key in keys) else SCHEMA
    document = {
        "schema": schema,
        "version": trust_list.version,
        "issued_at": _time_text(trust_list.issued_at),
        "site": trust_list.site,
        "keys": [_entry(key, schema) for key in keys],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _is_schema_1(key: TrustedKey) -> bool:
    return key.format is KeyFormat.CP1 and key.certificate is None and key.revocations is None


def _entry(key: TrustedKey, schema: int) -> dict[str, object]:
    entry: dict[str, object] = {"kid": key.kid}
    if schema > 1:
        entry["format"] = key.format.value
    entry.update(
        issuer=key.issuer,
        alg=key.alg.label,
        public_key=base64.b64encode(_spki(key.public_key)).decode("ascii"),
        not_after=_time_text(key.not_after),
    )
    if key.certificate is not None:
        entry["certificate"] = base64.b64encode(key.certificate.der).decode("ascii")
    if key.revocations is not None:
        entry["crl"] = {"ctr": key.revocations.ctr, "rids": key.revocations.entries()}
    return entry


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def save_trust_list(trust_list: TrustList, path: Path) -> None:
    """Write the trust list atomically: readers see the old file or the new one, never half."""
    write_atomic(path, trust_list_json(trust_list).encode("utf-8"), mode=0o644)


class TrustStore:
    """The trust list in force, shared by verifiers and the sync worker (thread-safe)."""

    def __init__(self, trust_list: TrustList | None = None) -> None:
        self._lock = threading.Lock()
        self._current = trust_list if trust_list is not None else TrustList()

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        """A store holding the list in `path` (empty when the file does not exist yet)."""
        return cls(load_trust_list(path))

    @property
    def current(self) -> TrustList:
        return self._current

    def replace_if_newer(self, new: TrustList) -> bool:
        """Take `new` only if its version is higher: a stale or replayed list never wins."""
        with self._lock:
            if new.version <= self._current.version:
                log.info(
                    "trust list version %s ignored: version %s is in force",
                    new.version,
                    self._current.version,
                )
                return False
            self._current = new
        log.info("trust list version %s in force (%s keys)", new.version, len(new.keys))
        return True

    def lookup(self, kid: str, key_format: KeyFormat = KeyFormat.CP1) -> TrustedKey | None:
        """The key `kid` if it may sign codes of `key_format`."""
        key = self._current.keys.get(kid)
        return key if key is not None and key.format is key_format else None
