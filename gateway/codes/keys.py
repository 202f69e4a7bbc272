"""The community server's signing keys, kept in one directory.

Layout of a key directory (the directory itself is mode 0700):

    keyring.json      issuer, site, trust-list version, the active kid and every kept key
                      (kid, alg, created_at); no secret material
    <kid as hex>.pem  the private key of each kept key, PKCS#8 PEM, mode 0600
    site.secret       the site secret for subject pseudonyms (random hex text), mode 0600
    imported.json     keys of other issuers taken into the trust list (EU DCC signer
                      certificates, SMART Health Card issuer keys), as trust-list JSON
    trust.json        the trust list last written: the public keys of every kept key and
                      every imported one

New passes are signed with the active key. Rotating makes a new key active and keeps the old
ones in the trust list, so passes they signed stay valid until they are revoked. Every change
(also importing or revoking another issuer's key) writes trust.json with the next version, so
gateways take it as newer than the one they hold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.codes.cose import Algorithm, PrivateKey, PublicKey
from gateway.codes.files import write_atomic
from gateway.codes.trust import (
    TrustedKey,
    TrustList,
    TrustListError,
    load_trust_list,
    save_trust_list,
    trust_list_json,
)
from gateway.core.errors import CheckpointError

KEYRING_FILE = "keyring.json"
SECRET_FILE = "site.secret"
TRUST_FILE = "trust.json"
IMPORTED_FILE = "imported.json"
SIGNING_ALGORITHMS = (Algorithm.EDDSA, Algorithm.ES256)
MIN_SECRET_BYTES = 16


class KeyDirectoryError(CheckpointError):
    """The key directory is missing, incomplete or asked to do something it cannot."""


def key_id(public_key: PublicKey) -> str:
    """First 8 bytes of SHA-256 of the SubjectPublicKeyInfo DER, base64."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()[:8]).decode("ascii")


def generate_private_key(alg: Algorithm) -> PrivateKey:
    if alg is Algorithm.EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    if alg is Algorithm.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"cannot sign passes with {alg.label}; use EdDSA or ES256")


def read_secret(path: Path) -> bytes:
    """A site secret file: its content without surrounding whitespace, at least 16 bytes."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise KeyDirectoryError(f"{path}: cannot read the site secret: {exc.strerror}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise KeyDirectoryError(f"{path}: a site secret needs at least {MIN_SECRET_BYTES} bytes")
    return secret


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The key new passes are signed with."""

    kid: str
    issuer: str
    private_key: PrivateKey


@dataclass(frozen=True, slots=True)
class KeptKey:
    kid: str
    alg: Algorithm
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Keyring:
    """The content of keyring.json."""

    issuer: str
    site: str
    version: int
    active: str
    keys: tuple[KeptKey, ...]

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)


class KeyDirectory:
    """One key directory; open it with `create()` or `open()`."""

    def __init__(
        self, path: Path, keyring: Keyring, imported: Mapping[str, TrustedKey] | None = None
    ) -> None:
        self.path = path
        self._keyring = keyring
        self._imported = dict(imported or {})

    @classmethod
    def create(
        cls, path: Path, *, issuer: str, site: str, alg: Algorithm, now: datetime
    ) -> KeyDirectory:
        """A new directory with one active key, a site secret and trust list version 1."""
        if not issuer or not site:
            raise KeyDirectoryError("a key directory needs an issuer and a site")
        if (path / KEYRING_FILE).exists():
            raise KeyDirectoryError(f"{path} already holds keys; use 'keys rotate' for a new one")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not (path / SECRET_FILE).exists():
            write_atomic(path / SECRET_FILE, (secrets.token_hex(32) + "\n").encode(), mode=0o600)
        directory = cls(path, Keyring(issuer=issuer, site=site, version=0, active="", keys=()))
        directory.rotate(alg=alg, now=now)
        return directory

    @classmethod
    def open(cls, path: Path) -> KeyDirectory:
        keyring_path = path / KEYRING_FILE
        try:
            document = json.loads(keyring_path.read_bytes())
        except FileNotFoundError:
            raise KeyDirectoryError(
                f"{path} is not a key directory (no {KEYRING_FILE}); create one with 'keys create'"
            ) from None
        except OSError as exc:
            raise KeyDirectoryError(f"{keyring_path}: cannot read: {exc.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeyDirectoryError(f"{keyring_path}: not valid JSON: {exc}") from None
        try:
            keyring = _keyring_from_document(document)
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyDirectoryError(f"{keyring_path}: malformed: {exc!s}") from None
        try:
            imported = load_trust_list(path / IMPORTED_FILE).keys
        except TrustListError as exc:
            raise KeyDirectoryError(str(exc)) from None
        return cls(path, keyring, imported)

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    @property
    def imported(self) -> Mapping[str, TrustedKey]:
        """Keys of other issuers in the trust list, by kid."""
        return dict(self._imported)

    @property
    def secret_path(self) -> Path:
        return self.path / SECRET_FILE

    @property
    def trust_list_path(self) -> Path:
        return self.path / TRUST_FILE

    def signing_key(self) -> SigningKey:
        return SigningKey(
            kid=self._keyring.active,
            issuer=self._keyring.issuer,
            private_key=self._private_key(self._keyring.active),
        )

    def rotate(self, *, alg: Algorithm, now: datetime) -> str:
        """Make a new key the active one; the old keys stay trusted. Returns the new kid."""
        private_key = generate_private_key(alg)
        kid = key_id(private_key.public_key())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_atomic(self._pem_path(kid), pem, mode=0o600)
        kept = KeptKey(kid=kid, alg=alg, created_at=now)
        self._commit(replace(self._keyring, active=kid, keys=(*self._keyring.keys, kept)), now)
        return kid

    def import_keys(self, keys: Iterable[TrustedKey], *, now: datetime) -> TrustList:
        """Trust other issuers' keys (replacing any with the same kid, e.g. a newer CRL)."""
        imported = dict(self._imported)
        for key in keys:
            if key.kid in self._keyring.kids:
                raise KeyDirectoryError(f"{key.kid} is one of this directory's own keys")
            if not key.issuer:
                raise KeyDirectoryError(f"key {key.kid} names no issuer; give one")
            imported[key.kid] = key
        self._save_imported(imported)
        return self._commit(self._keyring, now)

    def revoke(self, kid: str, *, now: datetime) -> None:
        """Remove a key from the trust list: an imported one, or a kept one with its private key."""
        if kid in self._imported:
            self._save_imported({k: v for k, v in self._imported.items() if k != kid})
            self._commit(self._keyring, now)
            return
        kept = self._keyring.kids
        if kid not in kept:
            trusted = ", ".join((*kept, *self._imported))
            raise KeyDirectoryError(f"no key {kid!r} here; trusted keys: {trusted}")
        if kid == self._keyring.active:
            raise KeyDirectoryError(f"{kid} is the active signing key; rotate, then revoke it")
        remaining = tuple(key for key in self._keyring.keys if key.kid != kid)
        self._commit(replace(self._keyring, keys=remaining), now)
        # Deleted only after the new trust list is written: a crash leaves a stray file,
        # never a keyring that names a missing key.
        self._pem_path(kid).unlink(missing_ok=True)

    def publish(self, *, now: datetime) -> TrustList:
        """Write the trust list again with the next version (e.g. to refresh `issued_at`)."""
        return self._commit(self._keyring, now)

    def _save_imported(self, imported: dict[str, TrustedKey]) -> None:
        write_atomic(
            self.path / IMPORTED_FILE,
            trust_list_json(TrustList(keys=imported)).encode("utf-8"),
            mode=0o644,
        )
        self._imported = imported

    def _commit(self, keyring: Keyring, now: datetime) -> TrustList:
        keyring = replace(keyring, version=keyring.version + 1)
        own = {
            key.kid: TrustedKey(
                kid=key.kid,
                issuer=keyring.issuer,
                alg=key.alg,
                public_key=self._private_key(key.kid).public_key(),
            )
            for key in keyring.keys
        }
        trust_list = TrustList(
            version=keyring.version,
            issued_at=now,
            site=keyring.site,
            keys={**self._imported, **own},
        )
        # The keyring first: its version is then taken even if writing the list fails.
        write_atomic(self.path / KEYRING_FILE, _keyring_json(keyring).encode(), mode=0o600)
        self._keyring = keyring
        save_trust_list(trust_list, self.trust_list_path)
        return trust_list

    def _pem_path(self, kid: str) -> Path:
        return self.path / f"{base64.b64decode(kid).hex()}.pem"

    def _private_key(self, kid: str) -> PrivateKey:
        path = self._pem_path(kid)
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as exc:
            raise KeyDirectoryError(f"{path}: cannot read the key: {exc.strerror}") from None
        except (ValueError, TypeError):
            raise KeyDirectoryError(f"{path}: not an unencrypted PEM private key") from None
        if not isinstance(loaded, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyDirectoryError(f"{path}: not an EdDSA or ES256 key")
        if key_id(loaded.public_key()) != kid:
            raise KeyDirectoryError(f"{path}: holds a different key than {kid}")
        return loaded


def _keyring_json(keyring: Keyring) -> str:
    document = {
        "schema": 1,
        "issuer": keyring.issuer,
        "site": keyring.site,
        "version": keyring.version,
        "active": keyring.active,
        "keys": [
            {"kid": key.kid, "alg": key.alg.label, "created_at": key.created_at.isoformat()}
            for key in keyring.keys
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _keyring_from_document(document: Any) -> Keyring:
    if not isinstance(document, dict):
        raise TypeError("not a JSON object")
    keys = tuple(
        KeptKey(
            kid=_kid(entry["kid"]),
            alg=Algorithm.from_label(entry["alg"]),
            created_at=_aware(datetime.fromisoformat(entry["created_at"])),
        )
        for entry in document["keys"]
    )
    keyring = Keyring(
        issuer=str(document["issuer"]),
        site=str(document["site"]),
        version=int(document["version"]),
        active=str(document["active"]),
        keys=keys,
    )
    if keyring.active not in keyring.kids:
        raise ValueError(f"the active key {keyring.active!r} is not among the kept keys")
    return keyring


def _kid(value: Any) -> str:
    if not isinstance(value, str) or len(base64.b64decode(value, validate=True)) != 8:
        raise ValueError(f"kid {value!r} is not 8 bytes in base64")
    return value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
