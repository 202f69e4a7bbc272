"""Signed and sealed documents for sync by hand: who wrote it, and only its addressee reads it.

A document is signed with the writer's certificate key (ECDSA P-256, SHA-256) and carries that
certificate, which must be issued by the site CA. A document with personal data is then sealed
to the addressee's certificate with HPKE (RFC 9180: DHKEM P-256, HKDF-SHA256, AES-128-GCM),
so a lost file exposes nothing and any changed byte is refused. The containers are CBOR maps.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.x509.oid import NameOID

from gateway.core.errors import CheckpointError

SIGNED_FORMAT = "checkpoint-signed/1"
SEALED_FORMAT = "checkpoint-sealed/1"
_SUITE = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
_SIGNED_CONTEXT = b"checkpoint-signed/1\x00"


class SealError(CheckpointError):
    """A document is damaged, forged, not for us, or a key or certificate is unusable."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A certificate and its private key: what signs and what opens sealed documents."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def name(self) -> str:
        return common_name(self.certificate)


def load_identity(cert_path: Path, key_path: Path) -> Identity:
    """Read a PEM certificate and its EC private key, checking that they belong together."""
    certificate = load_certificate(cert_path)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise SealError(f"{key_path}: cannot read the key: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise SealError(f"{key_path}: not a PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SealError(f"{key_path}: not an EC P-256 key")
    if key.public_key() != certificate.public_key():
        raise SealError(f"{key_path}: this key does not belong to {cert_path}")
    return Identity(certificate, key)


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise SealError(f"{path}: cannot read the certificate: {exc.strerror}") from None
    except ValueError as exc:
        raise SealError(f"{path}: not a PEM certificate: {exc}") from None


def common_name(certificate: x509.Certificate) -> str:
    values = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, in hex: how a sealed document names its addressee."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def check_issued(
    certificate: x509.Certificate, ca: x509.Certificate, *, names: Collection[str], now: datetime
) -> str:
    """The certificate's CN, once it is shown to be issued by `ca`, valid at `now` and named
    one of `names`."""
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise SealError("the certificate is not issued by this site's CA") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SealError(f"the certificate of {common_name(certificate)!r} is not valid now")
    name = common_name(certificate)
    if name not in names:
        raise SealError(f"signed by {name!r}, expected {' or '.join(sorted(names))}")
    return name


def sign(payload: bytes, identity: Identity) -> bytes:
    """The payload with the identity's signature and certificate."""
    signature = identity.key.sign(_SIGNED_CONTEXT + payload, ec.ECDSA(hashes.SHA256()))
    return cbor2.dumps(
        {
            "format": SIGNED_FORMAT,
            "payload": payload,
            "signer": identity.certificate.public_bytes(serialization.Encoding.DER),
            "signature": signature,
        }
    )


@dataclass(frozen=True, slots=True)
class Signed:
    """A signed document whose signature holds; its signer is not checked yet."""

    payload: bytes
    signer: x509.Certificate


def open_signed(document: bytes) -> Signed:
    """Check the signature against the certificate the document carries."""
    fields = _cbor_map(
        document, SIGNED_FORMAT, {"payload": bytes, "signer": bytes, "signature": bytes}
    )
    try:
        signer = x509.load_der_x509_certificate(fields["signer"])
        public_key = signer.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise SealError("the signer's key is not an EC key")
        public_key.verify(
            fields["signature"], _SIGNED_CONTEXT + fields["payload"], ec.ECDSA(hashes.SHA256())
        )
    except (ValueError, TypeError, InvalidSignature):
        raise SealError("the signature does not match: the file was changed") from None
    return Signed(payload=fields["payload"], signer=signer)


def seal(document: bytes, recipient: x509.Certificate) -> bytes:
    """Encrypt the document so that only the holder of the recipient's key can read it."""
    public_key = recipient.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise SealError(f"{common_name(recipient)!r} has no EC key to seal to")
    addressee = fingerprint(recipient)
    sealed = _SUITE.encrypt(document, public_key, info=_info(addressee))
    return cbor2.dumps({"format": SEALED_FORMAT, "recipient": addressee, "sealed": sealed})


def unseal(data: bytes, identity: Identity) -> bytes:
    """Decrypt a document sealed to this identity; any change to it is refused."""
    fields = _cbor_map(data, SEALED_FORMAT, {"recipient": str, "sealed": bytes})
    addressee = fingerprint(identity.certificate)
    if fields["recipient"] != addressee:
        raise SealError(f"not sealed to this certificate ({identity.name!r})")
    try:
        return _SUITE.decrypt(fields["sealed"], identity.key, info=_info(addressee))
    except (InvalidTag, ValueError):
        raise SealError("cannot be decrypted: the file was changed or cut short") from None


def _info(addressee: str) -> bytes:
    return f"{SEALED_FORMAT} {addressee}".encode()


def _cbor_map(data: bytes, expected: str, keys: dict[str, type]) -> dict[str, Any]:
    stream = io.BytesIO(data)
    try:
        fields = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError):
        raise SealError("not a readable file: damaged or cut short") from None
    if stream.tell() != len(data):
        raise SealError("not a readable file: damaged (data after its end)")
    if not isinstance(fields, dict) or fields.get("format") != expected:
        raise SealError(f"not a {expected} document")
    if not all(isinstance(fields.get(key), kind) for key, kind in keys.items()):
        raise SealError(f"a damaged {expected} document")
    return fields
