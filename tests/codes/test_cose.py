from __future__ import annotations

import zlib

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.codes import cose
from gateway.codes.cose import Algorithm, CoseError, Layer

PREFIX = b"XX1:"
KID = b"\x01\x02\x03\x04\x05\x06\x07\x08"


def _text(data: bytes, *, compress: bool = True) -> bytes:
    body = zlib.compress(data) if compress else data
    return PREFIX + base45.b45encode(body)


def _layer_of(text: bytes) -> Layer:
    with pytest.raises(CoseError) as caught:
        cose.decode_text(text, PREFIX)
    return caught.value.layer


@pytest.mark.parametrize(
    "private_key",
    [
        ed25519.Ed25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["EdDSA", "ES256", "PS256"],
)
def test_sign_then_decode_and_verify(private_key: cose.PrivateKey) -> None:
    text = cose.encode_text(cose.sign1(b"claims", private_key, KID), PREFIX)
    message = cose.decode_text(text.encode(), PREFIX)
    assert message.payload == b"claims"
    assert message.kid == KID
    assert message.alg == cose.algorithm_of(private_key.public_key())
    cose.verify_signature(message, private_key.public_key())


def test_es256_signature_is_raw_r_and_s() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    message = cose.parse_sign1(cose.sign1(b"p", key, KID))
    assert len(message.signature) == 64


def test_another_key_does_not_verify() -> None:
    message = cose.parse_sign1(cose.sign1(b"p", ed25519.Ed25519PrivateKey.generate(), KID))
    with pytest.raises(CoseError) as caught:
        cose.verify_signature(message, ed25519.Ed25519PrivateKey.generate().public_key())
    assert caught.value.layer is Layer.SIGNATURE


def test_algorithm_must_match_the_key_type() -> None:
    message = cose.parse_sign1(cose.sign1(b"p", ed25519.Ed25519PrivateKey.generate(), KID))
    with pytest.raises(CoseError) as caught:
        cose.verify_signature(message, ec.generate_private_key(ec.SECP256R1()).public_key())
    assert caught.value.layer is Layer.SIGNATURE
    assert "does not match" in caught.value.detail


def test_es256_signature_of_wrong_length_is_a_signature_failure() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    protected = cbor2.dumps({1: Algorithm.ES256.value})
    data = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, b"p", b"\x01" * 70]))
    with pytest.raises(CoseError) as caught:
        cose.verify_signature(cose.parse_sign1(data), key.public_key())
    assert caught.value.layer is Layer.SIGNATURE


def _signed(
    private_key: ed25519.Ed25519PrivateKey,
    protected: dict[int, object],
    unprotected: dict[int, object],
) -> list[object]:
    protected_bytes = cbor2.dumps(protected)
    signature = private_key.sign(cbor2.dumps(["Signature1", protected_bytes, b"", b"p"]))
    return [protected_bytes, unprotected, b"p", signature]


@pytest.mark.parametrize("wrap", ["tag18", "tag61", "untagged"])
def test_accepts_tag_18_tag_61_and_untagged_and_uncompressed(wrap: str) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    array = _signed(key, {1: -8, 4: KID}, {})
    item: object = {
        "tag18": cbor2.CBORTag(18, array),
        "tag61": cbor2.CBORTag(61, cbor2.CBORTag(18, array)),
        "untagged": array,
    }[wrap]
    for compress in (True, False):
        message = cose.decode_text(_text(cbor2.dumps(item), compress=compress), PREFIX)
        cose.verify_signature(message, key.public_key())
        assert message.kid == KID


def test_kid_from_protected_header_first_then_unprotected() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    only_unprotected = cose.parse_sign1(cbor2.dumps(_signed(key, {1: -8}, {4: b"unprot"})))
    assert only_unprotected.kid == b"unprot"
    both = cose.parse_sign1(cbor2.dumps(_signed(key, {1: -8, 4: b"prot"}, {4: b"unprot"})))
    assert both.kid == b"prot"
    neither = cose.parse_sign1(cbor2.dumps(_signed(key, {1: -8}, {})))
    assert neither.kid is None


def test_scanner_line_endings_are_ignored() -> None:
    text = cose.encode_text(cose.sign1(b"p", ed25519.Ed25519PrivateKey.generate(), KID), PREFIX)
    assert cose.decode_text(text.encode() + b"\r\n", PREFIX).payload == b"p"


def test_each_layer_fails_with_its_own_name() -> None:
    good = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8}), {}, b"p", b"s"]))
    assert _layer_of(b"HC1:" + base45.b45encode(good)) is Layer.PREFIX
    assert _layer_of(PREFIX) is Layer.BASE45
    assert _layer_of(PREFIX + b"abc") is Layer.BASE45  # lower case is not Base45
    assert _layer_of(PREFIX + "中文".encode()) is Layer.BASE45
    assert _layer_of(PREFIX + base45.b45encode(zlib.compress(good)[:-3])) is Layer.COMPRESSION
    assert _layer_of(PREFIX + base45.b45encode(b"\x78\x9c" + b"\xff" * 20)) is Layer.COMPRESSION
    assert _layer_of(_text(b"\xff\xfe not cbor")) is Layer.COSE
    assert _layer_of(_text(cbor2.dumps({"a": 1}))) is Layer.COSE
    assert _layer_of(_text(cbor2.dumps(cbor2.CBORTag(98, [])))) is Layer.COSE


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ([b"", {}, b"p"], "four items"),
        ([b"", {}, b"p", b"s", b"x"], "four items"),
        (["text", {}, b"p", b"s"], "wrong types"),
        ([b"", [], b"p", b"s"], "wrong types"),
        ([b"", {}, None, b"s"], "wrong types"),
        ([b"", {}, b"p", b"s"], "no algorithm"),
        ([cbor2.dumps({1: "EdDSA"}), {}, b"p", b"s"], "no algorithm"),
        ([cbor2.dumps([1, -8]), {}, b"p", b"s"], "not a map"),
        ([b"\xff", {}, b"p", b"s"], "not valid CBOR"),
        ([cbor2.dumps({1: -8, 4: "kid"}), {}, b"p", b"s"], "key id"),
    ],
)
def test_cose_structure_problems(item: list[object], problem: str) -> None:
    with pytest.raises(CoseError) as caught:
        cose.parse_sign1(cbor2.dumps(cbor2.CBORTag(18, item)))
    assert caught.value.layer is Layer.COSE
    assert problem in caught.value.detail


def test_bytes_after_the_end_are_rejected() -> None:
    message = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8}), {}, b"p", b"s"]))
    assert _layer_of(_text(message + b"\x00")) is Layer.COSE
    compressed = zlib.compress(message) + b"\x00"
    assert _layer_of(PREFIX + base45.b45encode(compressed)) is Layer.COMPRESSION


def test_a_zip_bomb_is_refused() -> None:
    bomb = zlib.compress(b"\x00" * (cose.MAX_DECOMPRESSED * 4))
    with pytest.raises(CoseError) as caught:
        cose.decompress(bomb)
    assert caught.value.layer is Layer.COMPRESSION
    assert "more than" in caught.value.detail


def test_payload_must_be_a_map() -> None:
    assert cose.decode_payload(cbor2.dumps({"a": 1})) == {"a": 1}
    for payload in (cbor2.dumps([1, 2]), b"\xff", cbor2.dumps({"a": 1}) + b"\x00"):
        with pytest.raises(CoseError) as caught:
            cose.decode_payload(payload)
        assert caught.value.layer is Layer.PAYLOAD


def test_algorithm_labels() -> None:
    assert [Algorithm.from_label(a.label) for a in Algorithm] == list(Algorithm)
    assert Algorithm.EDDSA.label == "EdDSA"
    with pytest.raises(ValueError, match="unsupported"):
        Algorithm.from_label("HS256")
    with pytest.raises(ValueError, match="unsupported"):
        cose.algorithm_of(ec.generate_private_key(ec.SECP256K1()).public_key())


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()], ids=["P-384", "P-521"])
def test_es256_on_larger_nist_curves(curve: ec.EllipticCurve) -> None:
    """COSE ties ES256 to SHA-256, not to P-256; DCC signers use P-384 too."""
    key = ec.generate_private_key(curve)
    assert cose.algorithm_of(key.public_key()) is Algorithm.ES256
    message = cose.parse_sign1(cose.sign1(b"p", key, KID))
    assert len(message.signature) == 2 * ((curve.key_size + 7) // 8)
    cose.verify_signature(message, key.public_key())


def test_der_signature_needs_the_curve_length() -> None:
    with pytest.raises(ValueError, match="has 96 bytes, not 64"):
        cose.der_signature(b"\x01" * 64, ec.SECP384R1())


def test_zlib_can_be_required() -> None:
    message = cose.sign1(b"p", ed25519.Ed25519PrivateKey.generate(), KID)
    plain = PREFIX + base45.b45encode(message)
    assert cose.decode_text(plain, PREFIX).payload == b"p"
    with pytest.raises(CoseError) as caught:
        cose.decode_text(plain, PREFIX, require_zlib=True)
    assert caught.value.layer is Layer.COMPRESSION
    assert cose.decode_text(_text(message), PREFIX, require_zlib=True).payload == b"p"


def test_alg_may_be_unprotected_but_must_still_fit_the_key() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    message = cose.parse_sign1(cbor2.dumps(_signed(key, {4: KID}, {1: -8})))
    assert message.alg == Algorithm.EDDSA
    cose.verify_signature(message, key.public_key())
    swapped = cose.parse_sign1(cbor2.dumps(_signed(key, {4: KID}, {1: -7})))
    with pytest.raises(CoseError, match="does not match"):
        cose.verify_signature(swapped, key.public_key())


def test_a_text_longer_than_a_qr_code_is_refused() -> None:
    assert _layer_of(PREFIX + b"A" * (cose.MAX_TEXT + 1)) is Layer.BASE45
