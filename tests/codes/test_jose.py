from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.codes.jose import (
    b64url_decode,
    b64url_encode,
    jwk_public_key,
    thumbprint,
    verify_es256,
)
from tests.codes.shc_issuer import ShcIssuer

JWKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "shc" / "issuer"


def test_thumbprints_of_the_example_issuer_keys_are_their_kids() -> None:
    keys = json.loads((JWKS / ".well-known" / "jwks.json").read_bytes())["keys"]
    assert len(keys) == 2
    for jwk in keys:
        assert thumbprint(jwk_public_key(jwk)) == jwk["kid"]


def test_base64url_is_strict_and_canonical() -> None:
    assert b64url_decode(b64url_encode(b"\xff\xfe\x00")) == b"\xff\xfe\x00"
    assert b64url_encode(b"\xfb\xff") == "-_8"
    for bad in ("a+b", "ab==", "a", "ab c", "-_9"):  # '-_9' sets unused bits of '-_8'
        with pytest.raises(ValueError):
            b64url_decode(bad)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kty": "RSA"}, "not an EC P-256 key"),
        ({"crv": "P-384"}, "not an EC P-256 key"),
        ({"x": "AAAA"}, "x is not a 32-byte"),
        ({"y": None}, "y is not a 32-byte"),
        ({"y": b64url_encode(b"\x01" * 32)}, "not on the P-256 curve"),
    ],
)
def test_bad_jwks(change: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        jwk_public_key({**ShcIssuer().jwk(), **change})


def test_es256_verification() -> None:
    issuer = ShcIssuer()
    signature = issuer.sign(b"data")
    key = issuer.private_key.public_key()
    assert verify_es256(key, signature, b"data")
    assert not verify_es256(key, signature, b"other")
    assert not verify_es256(key, signature[:-1], b"data")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert not verify_es256(p384, signature, b"data")
