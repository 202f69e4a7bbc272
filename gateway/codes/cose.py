"""The layering shared by the community pass and the EU DCC, both ways.

    text       = PREFIX + Base45(zlib(COSE_Sign1))      (zlib optional when reading a pass)
    COSE_Sign1 = [protected: bstr .cbor map, unprotected: map, payload: bstr, signature: bstr]

Reading goes layer by layer; a failure raises `CoseError` naming the `Layer` that failed, so a
caller can tell whether the text, the compression, the structure or the signature was wrong.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.codes.inflate import MAX_INFLATED, ZLIB, inflate
from gateway.core.errors import CheckpointError

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

MAX_DECOMPRESSED = MAX_INFLATED
# A QR code holds at most 4296 alphanumeric characters; anything longer is not a scan.
MAX_TEXT = 8192

_TAG_SIGN1 = 18
_TAG_CWT = 61
_HEADER_ALG = 1
_HEADER_KID = 4
# COSE's ES256 is ECDSA with SHA-256 on any NIST curve; DCC signers also use P-384.
_ES256_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class Layer(StrEnum):
    """Where in the layering a code failed."""

    PREFIX = "prefix"
    BASE45 = "base45"
    COMPRESSION = "compression"
    COSE = "cose"
    PAYLOAD = "payload"
    SIGNATURE = "signature"


class CoseError(CheckpointError):
    """One layer of a code could not be read or checked."""

    def __init__(self, layer: Layer, detail: str) -> None:
        super().__init__(f"{layer.value}: {detail}")
        self.layer = layer
        self.detail = detail


class Algorithm(IntEnum):
    """The COSE signature algorithms we verify, by their registered identifiers."""

    ES256 = -7
    EDDSA = -8
    PS256 = -37

    @property
    def label(self) -> str:
        """The name trust lists use: 'EdDSA', 'ES256', 'PS256'."""
        return "EdDSA" if self is Algorithm.EDDSA else self.name

    @classmethod
    def from_label(cls, label: str) -> Algorithm:
        for alg in cls:
            if alg.label == label:
                return alg
        raise ValueError(f"unsupported algorithm {label!r}; allowed: EdDSA, ES256, PS256")


def algorithm_of(key: PublicKey) -> Algorithm:
    """The algorithm a public key signs with; ValueError for key types we do not support."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return Algorithm.EDDSA
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _ES256_CURVES):
        return Algorithm.ES256
    if isinstance(key, rsa.RSAPublicKey):
        return Algorithm.PS256
    raise ValueError(f"unsupported key type {type(key).__name__}")


@dataclass(frozen=True, slots=True)
class Sign1:
    """A parsed COSE_Sign1: the signed parts as bytes, and what the headers say."""

    protected: bytes
    payload: bytes
    signature: bytes
    alg: int
    kid: bytes | None

    def to_be_signed(self) -> bytes:
        return _sig_structure(self.protected, self.payload)


def decode_text(text: bytes, prefix: bytes, *, require_zlib: bool = False) -> Sign1:
    """Prefix → Base45 → zlib → COSE_Sign1. The signature is not checked here."""
    return parse_sign1(decompress(base45_decode(strip_prefix(text, prefix)), required=require_zlib))


def strip_prefix(text: bytes, prefix: bytes) -> bytes:
    # Scanners end a read with CR or LF; neither belongs to the code.
    text = text.rstrip(b"\r\n")
    if not text.startswith(prefix):
        raise CoseError(Layer.PREFIX, f"does not start with {prefix.decode('ascii')!r}")
    return text[len(prefix) :]


def base45_decode(text: bytes) -> bytes:
    if not text:
        raise CoseError(Layer.BASE45, "nothing after the prefix")
    if len(text) > MAX_TEXT:
        raise CoseError(
            Layer.BASE45, f"longer than {MAX_TEXT} characters, more than a QR code holds"
        )
    try:
        return bytes(base45.b45decode(text.decode("ascii")))
    except ValueError:  # also UnicodeDecodeError
        raise CoseError(Layer.BASE45, "not valid Base45 text") from None


def decompress(data: bytes, *, required: bool = False) -> bytes:
    """Inflate a zlib stream; data without a zlib header is taken as uncompressed unless
    compression is `required` (the EU DCC demands it)."""
    if not _looks_like_zlib(data):
        if required:
            raise CoseError(Layer.COMPRESSION, "not zlib-compressed")
        return data
    try:
        return inflate(data, wbits=ZLIB)
    except ValueError as exc:
        raise CoseError(Layer.COMPRESSION, str(exc)) from None


def _looks_like_zlib(data: bytes) -> bool:
    # RFC 1950 header: deflate method, window <= 32 KiB, header checksum. A COSE message
    # starts with 0xD2 (tag 18), 0xD8 (tag 61) or 0x84 (array), none of which passes.
    if len(data) < 2:
        return False
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and ((cmf << 8) | flg) % 31 == 0


def parse_sign1(data: bytes) -> Sign1:
    """A COSE_Sign1 (tag 18, tag 61 around tag 18, or untagged) and its headers."""
    item = _loads(data, Layer.COSE, "the COSE message")
    if isinstance(item, cbor2.CBORTag) and item.tag == _TAG_CWT:
        item = item.value
    if isinstance(item, cbor2.CBORTag):
        if item.tag != _TAG_SIGN1:
            raise CoseError(Layer.COSE, f"CBOR tag {item.tag} is not COSE_Sign1")
        item = item.value
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise CoseError(Layer.COSE, "not a COSE_Sign1 array of four items")
    protected, unprotected, payload, signature = item
    if not (
        isinstance(protected, bytes)
        and isinstance(unprotected, Mapping)
        and isinstance(payload, bytes)
        and isinstance(signature, bytes)
    ):
        raise CoseError(Layer.COSE, "COSE_Sign1 items have the wrong types")
    header = _loads(protected, Layer.COSE, "the protected header") if protected else {}
    if not isinstance(header, Mapping):
        raise CoseError(Layer.COSE, "the protected header is not a map")
    # A header parameter counts where it is protected; the unprotected bucket only fills gaps.
    # An unprotected alg cannot mislead: verify_signature() demands the one the key signs with.
    alg = header[_HEADER_ALG] if _HEADER_ALG in header else unprotected.get(_HEADER_ALG)
    if not isinstance(alg, int) or isinstance(alg, bool):
        raise CoseError(Layer.COSE, "no algorithm in the headers")
    kid = header[_HEADER_KID] if _HEADER_KID in header else unprotected.get(_HEADER_KID)
    if kid is not None and not isinstance(kid, bytes):
        raise CoseError(Layer.COSE, "the key id is not a byte string")
    return Sign1(protected=protected, payload=payload, signature=signature, alg=alg, kid=kid)


def decode_payload(payload: bytes) -> Mapping[object, object]:
    """The payload's CBOR map of claims."""
    claims = _loads(payload, Layer.PAYLOAD, "the payload")
    if not isinstance(claims, Mapping):
        raise CoseError(Layer.PAYLOAD, "the payload is not a CBOR map")
    return claims


def _loads(data: bytes, layer: Layer, what: str) -> object:
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except cbor2.CBORDecodeError:
        raise CoseError(layer, f"{what} is not valid CBOR") from None
    if stream.tell() != len(data):
        raise CoseError(layer, f"{what} has bytes after its end")
    return item


def verify_signature(message: Sign1, key: PublicKey) -> None:
    """Return if `key` signed `message` with the algorithm its header names, else raise."""
    data = message.to_be_signed()
    try:
        if message.alg == Algorithm.EDDSA and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(message.signature, data)
        elif (
            message.alg == Algorithm.ES256
            and isinstance(key, ec.EllipticCurvePublicKey)
            and isinstance(key.curve, _ES256_CURVES)
        ):
            try:
                der = der_signature(message.signature, key.curve)
            except ValueError as exc:
                raise CoseError(Layer.SIGNATURE, str(exc)) from None
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        elif message.alg == Algorithm.PS256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(message.signature, data, _PSS, hashes.SHA256())
        else:
            raise CoseError(
                Layer.SIGNATURE, f"algorithm {message.alg} does not match the issuer's key"
            )
    except InvalidSignature:
        raise CoseError(Layer.SIGNATURE, "the signature does not verify") from None


def der_signature(raw: bytes, curve: ec.EllipticCurve) -> bytes:
    """An ECDSA signature carried as r || s (COSE, JWS) in the DER form cryptography wants.

    ValueError when its length does not fit the curve.
    """
    size = _coordinate_bytes(curve)
    if len(raw) != 2 * size:
        raise ValueError(f"an ECDSA signature on {curve.name} has {2 * size} bytes, not {len(raw)}")
    return encode_dss_signature(
        int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    )


def _coordinate_bytes(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def sign1(payload: bytes, key: PrivateKey, kid: bytes) -> bytes:
    """A tagged COSE_Sign1 over `payload`; alg from the key, alg and kid in the protected header."""
    alg = algorithm_of(key.public_key())
    protected = cbor2.dumps({_HEADER_ALG: int(alg), _HEADER_KID: kid})
    data = _sig_structure(protected, payload)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(data)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        size = _coordinate_bytes(key.curve)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = key.sign(data, _PSS, hashes.SHA256())
    return cbor2.dumps(cbor2.CBORTag(_TAG_SIGN1, [protected, {}, payload, signature]))


def encode_text(message: bytes, prefix: bytes) -> str:
    """COSE bytes → zlib → Base45, behind the prefix: ready for a QR code."""
    encoded: bytes = base45.b45encode(zlib.compress(message, 9))
    return prefix.decode("ascii") + encoded.decode("ascii")


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])
