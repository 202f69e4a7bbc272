"""Property-based tests: random and mutated payloads of every format through `read_code`.

For every payload the verifiers never raise, never need their last-resort handler, and never
report `valid` for a signed payload that was changed (unless the change decodes to the very
message that was signed, e.g. a scanner's line ending). The work per payload is bounded by
two limits enforced before any parsing: the text a scan may carry (`MAX_TEXT`) and what it may
inflate to (`MAX_INFLATED`); the last tests pin those limits for each format.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import base45
import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.codes import cose
from gateway.codes.community_pass import PREFIX as CP1
from gateway.codes.cose import MAX_TEXT, Algorithm, CoseError
from gateway.codes.dcc import PREFIX as HC1
from gateway.codes.formats import code_formats
from gateway.codes.inflate import MAX_INFLATED
from gateway.codes.jose import b64url_encode
from gateway.codes.shc import PREFIX as SHC
from gateway.codes.trust import TrustList, TrustStore
from gateway.core.codes import CodeFormat, read_code
from gateway.core.values import CodeCheck, Credential
from tests.codes.dcc_issuer import DccSigner
from tests.codes.issuer import NOW, Issuer
from tests.codes.shc_issuer import ShcIssuer, chunks, qr

PROPERTY = settings(
    max_examples=150,
    deadline=None,  # time is bounded by the size limits, not measured
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
BASE45_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

_PASS = Issuer.generate(Algorithm.EDDSA)
_DCC = DccSigner.generate()
_SHC = ShcIssuer()
_KEYS = [_PASS.trusted_key(), _DCC.trusted_key(), _SHC.trusted_key()]
STORE = TrustStore(TrustList(version=1, keys={key.kid: key for key in _KEYS}))

CP1_TEXT = _PASS.issue().encode()
HC1_TEXT = _DCC.issue().encode()
SHC_JWS = _SHC.jws(_SHC.payload(exp=NOW + timedelta(days=30)))
SHC_TEXT = qr(SHC_JWS)
SIGNED = {CP1: CP1_TEXT, HC1: HC1_TEXT, SHC: SHC_TEXT}


def _formats() -> list[CodeFormat]:
    return code_formats(STORE, secret=b"a site secret of sixteen bytes")


def test_the_unchanged_codes_are_valid() -> None:
    formats = _formats()
    for text in SIGNED.values():
        assert read_code(text, formats, NOW).check is CodeCheck.VALID
    for part in chunks(SHC_JWS, 3):
        credential = read_code(part, formats, NOW)
    assert credential.check is CodeCheck.VALID


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _no_internal_errors() -> Iterator[None]:
    """Fails when a verifier had to fall back on its last-resort handler."""
    handler = _Errors()
    logger = logging.getLogger("gateway.codes")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.records, [record.getMessage() for record in handler.records]


def _read(payload: bytes) -> Credential:
    with _no_internal_errors():
        credential = read_code(payload, _formats(), NOW)
    assert isinstance(credential, Credential)
    return credential


def _cose_content(text: bytes, prefix: bytes) -> tuple[bytes, bytes, bytes] | None:
    try:
        message = cose.decode_text(text, prefix)
    except CoseError:
        return None
    return message.protected, message.payload, message.signature


def _same_signed_content(mutated: bytes, prefix: bytes) -> bool:
    """True when the change is no change to what was signed (then `valid` is right)."""
    if prefix == SHC:
        return mutated.rstrip(b"\r\n") == SHC_TEXT
    return _cose_content(mutated, prefix) == _cose_content(SIGNED[prefix], prefix)


@PROPERTY
@given(st.binary(max_size=2 * MAX_TEXT))
def test_random_bytes(payload: bytes) -> None:
    credential = _read(payload)
    assert credential.check is not CodeCheck.VALID


@PROPERTY
@given(
    st.sampled_from([CP1, HC1, SHC, b"shc:/1/2/", b"shc:/2/2/"]),
    st.one_of(
        st.binary(max_size=3000),
        st.text(alphabet=BASE45_ALPHABET.decode(), max_size=3000).map(str.encode),
        st.text(alphabet="0123456789", max_size=3000).map(str.encode),
    ),
)
def test_random_bodies_behind_each_prefix(prefix: bytes, body: bytes) -> None:
    credential = _read(prefix + body)
    assert credential.check is not CodeCheck.VALID


_MUTATION = st.tuples(
    st.sampled_from(["replace", "insert", "delete", "truncate", "flip"]),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=255),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]], alphabet: bytes | None) -> bytes:
    out = bytearray(data)
    for operation, where, value in mutations:
        if not out:
            break
        position = where % len(out)
        new = alphabet[value % len(alphabet)] if alphabet else value
        if operation == "replace":
            out[position] = new
        elif operation == "insert":
            out.insert(position, new)
        elif operation == "delete":
            del out[position]
        elif operation == "truncate":
            del out[position:]
        else:
            out[position] ^= 1 << (value % 8)
    return bytes(out)


@PROPERTY
@given(
    st.sampled_from(sorted(SIGNED)),
    st.lists(_MUTATION, min_size=1, max_size=4),
    st.sampled_from([None, BASE45_ALPHABET, b"0123456789"]),
)
def test_mutated_texts_never_pass(
    prefix: bytes, mutations: list[tuple[str, int, int]], alphabet: bytes | None
) -> None:
    mutated = _mutate(SIGNED[prefix], mutations, alphabet)
    credential = _read(mutated)
    if credential.check is CodeCheck.VALID:
        assert _same_signed_content(mutated, prefix), mutated


def _cose_bytes(text: bytes, prefix: bytes) -> bytes:
    return zlib.decompress(base45.b45decode(text[len(prefix) :]))


@PROPERTY
@given(st.sampled_from([CP1, HC1]), st.lists(_MUTATION, min_size=1, max_size=3))
def test_mutated_cose_messages_never_pass(
    prefix: bytes, mutations: list[tuple[str, int, int]]
) -> None:
    """Changes inside the compression, so that CBOR and signature checks are reached."""
    message = _mutate(_cose_bytes(SIGNED[prefix], prefix), mutations, None)
    mutated = cose.encode_text(message, prefix).encode()
    credential = _read(mutated)
    if credential.check is CodeCheck.VALID:
        assert _same_signed_content(mutated, prefix)


@PROPERTY
@given(
    st.sampled_from([0, 1, 2]),
    st.lists(_MUTATION, min_size=1, max_size=3),
    st.sampled_from([None, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."]),
)
def test_mutated_health_card_jws_never_passes(
    part: int, mutations: list[tuple[str, int, int]], alphabet: bytes | None
) -> None:
    """Changes to one part of the JWS, re-encoded as a QR text the scanner would read."""
    parts = SHC_JWS.split(".")
    changed = _mutate(parts[part].encode(), mutations, alphabet).decode("latin-1")
    jws = ".".join([*parts[:part], changed, *parts[part + 1 :]])
    if not all(45 <= ord(character) <= 122 for character in jws):
        return  # not representable in a numeric QR text
    credential = _read(qr(jws))
    if credential.check is CodeCheck.VALID:
        assert jws == SHC_JWS


@PROPERTY
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.integers(-300, 10) | st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_any_signed_claims_are_read_without_surprises(claims: object) -> None:
    """Whatever a trusted signer signs, verification ends in a verdict, never an exception."""
    for text in (_PASS.sign_claims(claims), _DCC.sign_claims(claims).encode()):
        _read(text)
    _read(qr(_SHC.jws(claims)))


def _bombs() -> dict[bytes, bytes]:
    """A text per format whose payload inflates past the limit."""
    zeros = b"\x00" * (MAX_INFLATED + 1)
    bomb_cose = zlib.compress(zeros, 9)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = deflater.compress(zeros) + deflater.flush()
    head = b64url_encode(b'{"zip":"DEF","alg":"ES256","kid":"%s"}' % _SHC.kid.encode())
    signed = f"{head}.{b64url_encode(raw)}"
    jws = f"{signed}.{b64url_encode(_SHC.sign(signed.encode()))}"
    return {
        CP1: CP1 + base45.b45encode(bomb_cose),
        HC1: HC1 + base45.b45encode(bomb_cose),
        SHC: qr(jws),
    }


def test_every_format_stops_inflating_at_the_limit() -> None:
    for prefix, text in _bombs().items():
        assert len(text) <= MAX_TEXT, prefix
        credential = _read(text)
        assert credential.check is CodeCheck.UNREADABLE, prefix
        assert credential.detail.startswith("compression: "), credential.detail
        assert f"more than {MAX_INFLATED} bytes" in credential.detail


@settings(PROPERTY, max_examples=40)
@given(
    st.sampled_from([CP1, HC1, SHC, b"shc:/1/2/"]),
    st.text(alphabet="0123456789ABCXYZ $%:", min_size=MAX_TEXT + 1, max_size=MAX_TEXT + 300),
)
def test_every_format_refuses_texts_longer_than_a_qr_code_holds(prefix: bytes, body: str) -> None:
    """Refused before any decoding: the bound on the work a scan can cause."""
    credential = _read(prefix + body.encode())
    assert credential.check is CodeCheck.UNREADABLE, prefix
    assert f"longer than {MAX_TEXT} characters" in credential.detail


def test_the_signed_claims_bomb_is_refused_after_the_signature_too() -> None:
    huge = cbor2.dumps({"x": b"\x00" * (MAX_INFLATED + 1)})
    message = cose.sign1(huge, _DCC.private_key, cose.decode_text(HC1_TEXT, HC1).kid or b"")
    text = cose.encode_text(message, HC1).encode()
    assert len(text) <= MAX_TEXT
    assert _read(text).detail.startswith("compression: ")
