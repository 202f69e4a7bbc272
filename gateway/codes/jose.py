"""The JOSE pieces SMART Health Cards use: base64url, EC P-256 JWKs, their RFC 7638
thumbprints, and ES256 signatures of compact JWS."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.codes.cose import PublicKey, der_signature

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_P256_BYTES = 32


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url (RFC 7515); ValueError for any other character or a bad length.

    Only the canonical text of some bytes is accepted: set unused bits in the last
    character would let one signature be written several ways.
    """
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url text") from None
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url text")
    return data


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def jwk_public_key(jwk: Mapping[str, object]) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of an EC JWK; ValueError names what is wrong."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not an EC P-256 key (kty 'EC', crv 'P-256')")
    x, y = (_coordinate(jwk, name) for name in ("x", "y"))
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        raise ValueError("the point is not on the P-256 curve") from None


def _coordinate(jwk: Mapping[str, object], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or len(raw := b64url_decode(value)) != _P256_BYTES:
        raise ValueError(f"{name} is not a 32-byte base64url coordinate")
    return int.from_bytes(raw, "big")


def thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 JWK thumbprint of a P-256 key (SHA-256, base64url): an SHC key id."""
    numbers = key.public_numbers()
    members = {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url_encode(numbers.x.to_bytes(_P256_BYTES, "big")),
        "y": b64url_encode(numbers.y.to_bytes(_P256_BYTES, "big")),
    }
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def verify_es256(key: PublicKey, signature: bytes, signed: bytes) -> bool:
    """True when `signature` (r || s, as JWS carries it) is `key`'s ES256 signature.

    JOSE's ES256 is P-256 only: any other key is False.
    """
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return False
    try:
        key.verify(der_signature(signature, key.curve), signed, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True
