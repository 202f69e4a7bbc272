from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from gateway.codes.health import ColourRule
from gateway.codes.jose import b64url_decode, b64url_encode
from gateway.codes.pseudonym import person_pseudonym
from gateway.codes.shc import MAX_CHUNKS, ChunkAssembler, ShcFormat, numeric_decode
from gateway.codes.trust import TrustList, TrustStore
from gateway.core.codes import read_code
from gateway.core.values import CodeCheck, CodeStatus, Credential
from tests.codes.issuer import NOW
from tests.codes.shc_issuer import ISS, PATIENT, ShcIssuer, chunks, numeric, qr

SECRET = b"a site secret of at least sixteen bytes"


@pytest.fixture(scope="module")
def issuer() -> ShcIssuer:
    return ShcIssuer()


def _verify(
    signer: ShcIssuer,
    payload: bytes,
    *,
    now: datetime = NOW,
    issuer: str = ISS,
    revoked: list[str] | None = None,
) -> Credential:
    return ShcFormat(signer.store(issuer=issuer, revoked=revoked)).verify(payload, now)


def test_valid_card_round_trip(issuer: ShcIssuer) -> None:
    exp = NOW + timedelta(days=30)
    payload = qr(issuer.jws(issuer.payload(exp=exp)))
    credential = ShcFormat(issuer.store(), secret=SECRET).verify(payload, NOW)
    assert credential.check is CodeCheck.VALID, credential.detail
    assert credential.format == "shc"
    assert credential.status is CodeStatus.GREEN
    assert credential.label == "J*** B* A********"
    assert credential.subject == person_pseudonym(
        SECRET, family="Anyperson", given="John B.", birth_date="1951-01-20"
    )
    assert credential.issuer == ISS
    assert credential.kid == issuer.kid
    assert credential.issued_at is not None and credential.expires_at is not None
    assert abs(credential.issued_at - (NOW - timedelta(days=1))) < timedelta(milliseconds=1)
    assert abs(credential.expires_at - exp) < timedelta(milliseconds=1)


def test_numeric_encoding() -> None:
    assert numeric("eyJ-z.") == "56762900" + "77" + "01"
    assert numeric_decode("5676290077" + "01") == "eyJ-z."
    for bad in ("567", "78", "99"):
        with pytest.raises(Exception, match="numeric"):
            numeric_decode(bad)


def test_chunks_join_in_any_order(issuer: ShcIssuer) -> None:
    parts = chunks(issuer.jws(), 3)
    verifier = ShcFormat(issuer.store())
    first = verifier.verify(parts[2], NOW)
    assert first.check is CodeCheck.PARTIAL
    assert first.detail == "chunk 1 of 3 read, waiting for 1, 2"
    second = verifier.verify(parts[0], NOW + timedelta(seconds=5))
    assert (second.check, second.detail) == (CodeCheck.PARTIAL, "chunk 2 of 3 read, waiting for 2")
    whole = verifier.verify(parts[1], NOW + timedelta(seconds=9))
    assert whole.check is CodeCheck.VALID, whole.detail
    # The assembler starts afresh: the same last chunk alone is partial again.
    assert verifier.verify(parts[1], NOW + timedelta(seconds=10)).check is CodeCheck.PARTIAL


def test_a_repeated_chunk_changes_nothing(issuer: ShcIssuer) -> None:
    parts = chunks(issuer.jws(), 2)
    verifier = ShcFormat(issuer.store())
    verifier.verify(parts[0], NOW)
    assert verifier.verify(parts[0], NOW).detail == "chunk 1 of 2 read, waiting for 2"
    assert verifier.verify(parts[1], NOW).check is CodeCheck.VALID


def test_chunks_of_another_card_or_too_late_start_over(issuer: ShcIssuer) -> None:
    card, other = chunks(issuer.jws(), 2), chunks(issuer.jws(issuer.payload(rid="other")), 2)
    verifier = ShcFormat(issuer.store())
    verifier.verify(card[0], NOW)
    assert verifier.verify(other[0], NOW).detail == "chunk 1 of 2 read, waiting for 2"
    assert verifier.verify(other[1], NOW).check is CodeCheck.VALID

    verifier.verify(card[0], NOW)
    late = verifier.verify(card[1], NOW + timedelta(minutes=2))
    assert late.detail == "chunk 1 of 2 read, waiting for 1"

    three = chunks(issuer.jws(), 3)
    verifier.verify(card[0], NOW)
    assert verifier.verify(three[1], NOW).detail == "chunk 1 of 3 read, waiting for 1, 3"


def test_the_assembler_on_its_own() -> None:
    assembler = ChunkAssembler(timeout=timedelta(seconds=10))
    assert assembler.add(1, 2, "11", NOW).missing == (2,)
    done = assembler.add(2, 2, "22", NOW + timedelta(seconds=10))
    assert done.digits == "1122"
    assert assembler.add(2, 2, "22", NOW).digits is None
    assert assembler.add(1, 2, "11", NOW - timedelta(seconds=1)).missing == (
        2,
    )  # clock stepped back


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"shc:/", "no digits"),
        (b"shc:/123", "odd number"),
        (b"shc:/9900", "digit pair 99"),
        (b"shc:/12ab", "not 'shc:/' followed by digits"),
        (b"shc:/0/3/1234", "chunk 0 of 3"),
        (b"shc:/4/3/1234", "chunk 4 of 3"),
        (f"shc:/1/{MAX_CHUNKS + 1}/1234".encode(), f"at most {MAX_CHUNKS}"),
        (b"shc:/1/2/123", "odd number"),
        (b"shc:/" + b"0" * 9000, "longer than"),
    ],
)
def test_unreadable_texts(issuer: ShcIssuer, text: bytes, problem: str) -> None:
    credential = _verify(issuer, text)
    assert credential.check is CodeCheck.UNREADABLE
    assert credential.detail.startswith("numeric: ")
    assert problem in credential.detail


def _header(issuer: ShcIssuer, **changes: object) -> dict[str, object]:
    header: dict[str, object] = {"zip": "DEF", "alg": "ES256", "kid": issuer.kid, **changes}
    return {key: value for key, value in header.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"alg": "RS256"}, "alg 'RS256' is not ES256"),
        ({"alg": None}, "alg None is not ES256"),
        ({"zip": None}, "zip 'DEF'"),
        ({"kid": None}, "no usable kid"),
        ({"kid": "k" * 65}, "no usable kid"),
    ],
)
def test_bad_headers_are_unreadable(
    issuer: ShcIssuer, changes: dict[str, object], problem: str
) -> None:
    jws = issuer.jws(header=_header(issuer, **changes))
    credential = _verify(issuer, qr(jws))
    assert credential.check is CodeCheck.UNREADABLE
    assert credential.detail == f"jws: {problem}" or problem in credential.detail


def test_jws_structure_problems(issuer: ShcIssuer) -> None:
    jws = issuer.jws()
    head, body, signature = jws.split(".")
    cases = {
        f"{head}.{body}": "three parts",
        f"{b64url_encode(b'[1]')}.{body}.{signature}": "header is not a JSON object",
        f"{b64url_encode(b'{x')}.{body}.{signature}": "header is not JSON",
        f"{head}.{body}.{signature}=": "signature is not base64url",
    }
    for text, problem in cases.items():
        credential = _verify(issuer, qr(text))
        assert credential.check is CodeCheck.UNREADABLE, text
        assert problem in credential.detail


def test_tampered_signature_and_payload_are_bad_signature(issuer: ShcIssuer) -> None:
    head, body, signature = issuer.jws().split(".")
    raw = bytearray(b64url_decode(signature))
    raw[3] ^= 0x01
    tampered = f"{head}.{body}.{b64url_encode(bytes(raw))}"
    credential = _verify(issuer, qr(tampered))
    assert credential.check is CodeCheck.BAD_SIGNATURE
    assert credential.detail == "signature: does not verify"
    other_body = issuer.jws(issuer.payload(rid="x")).split(".")[1]
    assert _verify(issuer, qr(f"{head}.{other_body}.{signature}")).check is CodeCheck.BAD_SIGNATURE


def test_unknown_key_and_issuer_binding(issuer: ShcIssuer) -> None:
    stranger = ShcIssuer()
    credential = _verify(issuer, qr(stranger.jws()))
    assert credential.check is CodeCheck.UNKNOWN_ISSUER
    assert credential.kid == stranger.kid
    assert "not in trust list" in credential.detail
    elsewhere = qr(issuer.jws(issuer.payload(iss="https://elsewhere.example")))
    bound = _verify(issuer, elsewhere)
    assert bound.check is CodeCheck.UNKNOWN_ISSUER
    assert "elsewhere" in bound.detail
    assert _verify(issuer, elsewhere, issuer="").check is CodeCheck.VALID  # unbound key


def test_revocation_by_rid_with_and_without_a_cutoff(issuer: ShcIssuer) -> None:
    nbf = NOW - timedelta(days=1)
    card = qr(issuer.jws(issuer.payload(nbf=nbf, rid="abcDEF_-123")))
    cutoff_after = f"abcDEF_-123.{int(nbf.timestamp()) + 1}"
    cutoff_before = f"abcDEF_-123.{int(nbf.timestamp()) - 1}"
    assert _verify(issuer, card, revoked=["abcDEF_-123"]).check is CodeCheck.REVOKED
    assert _verify(issuer, card, revoked=[cutoff_after]).check is CodeCheck.REVOKED
    assert _verify(issuer, card, revoked=[cutoff_before]).check is CodeCheck.VALID
    assert _verify(issuer, card, revoked=["other"]).check is CodeCheck.VALID
    no_rid = qr(issuer.jws())
    assert _verify(issuer, no_rid, revoked=["abcDEF_-123"]).check is CodeCheck.VALID
    revoked = _verify(issuer, card, revoked=["abcDEF_-123"])
    assert revoked.detail == "revoked by the issuer (rid abcDEF_-123)"
    assert revoked.status is CodeStatus.UNKNOWN


def test_not_before_and_expiry(issuer: ShcIssuer) -> None:
    future = qr(issuer.jws(issuer.payload(nbf=NOW + timedelta(minutes=10))))
    assert _verify(issuer, future).check is CodeCheck.NOT_YET_VALID
    within_skew = qr(issuer.jws(issuer.payload(nbf=NOW + timedelta(minutes=4))))
    assert _verify(issuer, within_skew).check is CodeCheck.VALID
    expiring = qr(issuer.jws(issuer.payload(exp=NOW)))
    assert _verify(issuer, expiring, now=NOW - timedelta(seconds=1)).check is CodeCheck.VALID
    expired = _verify(issuer, expiring)
    assert expired.check is CodeCheck.EXPIRED
    assert expired.label == "J*** B* A********"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"nbf": 1, "vc": {}}, "iss is missing"),
        ({"iss": ISS, "vc": {}}, "nbf is not a number"),
        ({"iss": ISS, "nbf": "yesterday", "vc": {}}, "nbf is not a number"),
        (
            {
                "iss": ISS,
                "nbf": 1,
                "exp": True,
                "vc": {"type": [], "credentialSubject": {"fhirBundle": {"entry": []}}},
            },
            "exp is not a number",
        ),
        ({"iss": ISS, "nbf": 1}, "vc is missing"),
        ({"iss": ISS, "nbf": 1, "vc": {"type": []}}, "no FHIR bundle"),
        ({"iss": ISS, "nbf": 1, "vc": {"rid": 5}}, "vc.rid is not text"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_signed_payloads_of_the_wrong_shape_are_unreadable(
    issuer: ShcIssuer, payload: object, problem: str
) -> None:
    credential = _verify(issuer, qr(issuer.jws(payload)))
    assert credential.check is CodeCheck.UNREADABLE
    assert credential.detail.startswith("payload: ")
    assert problem in credential.detail


def test_a_card_without_a_patient_is_valid_without_subject(issuer: ShcIssuer) -> None:
    observation = {"resourceType": "Observation", "status": "final"}
    card = qr(issuer.jws(issuer.payload(resources=[observation])))
    credential = ShcFormat(issuer.store(), secret=SECRET).verify(card, NOW)
    assert credential.check is CodeCheck.VALID
    assert (credential.subject, credential.label) == (None, None)


def test_colour_by_what_the_card_holds(issuer: ShcIssuer) -> None:
    rule = ColourRule(vaccination=CodeStatus.GREEN, test=CodeStatus.YELLOW, other=CodeStatus.RED)
    verifier = ShcFormat(issuer.store(), colours=rule)
    lab = {"resourceType": "Observation", "status": "final"}
    cards = {
        CodeStatus.GREEN: issuer.payload(),
        CodeStatus.YELLOW: issuer.payload(resources=[PATIENT, lab]),
        CodeStatus.RED: issuer.payload(resources=[PATIENT, lab, {"resourceType": "Immunization"}]),
    }
    for colour, payload in cards.items():
        assert verifier.verify(qr(issuer.jws(payload)), NOW).status is colour
    typed = issuer.payload(resources=[PATIENT, lab])
    typed["vc"]["type"].append("https://smarthealth.cards#immunization")
    assert verifier.verify(qr(issuer.jws(typed)), NOW).status is CodeStatus.GREEN


def test_compression_problems_are_unreadable(issuer: ShcIssuer) -> None:
    head = b64url_encode(json.dumps(_header(issuer)).encode())
    for body, problem in ((b"\xff\xfe", "corrupt"), (b"", "truncated")):
        signed = f"{head}.{b64url_encode(body)}"
        jws = f"{signed}.{b64url_encode(issuer.sign(signed.encode()))}"
        credential = _verify(issuer, qr(jws))
        assert credential.check is CodeCheck.UNREADABLE
        assert credential.detail.startswith("compression: ") and problem in credential.detail


def test_verify_jws_and_read_code(issuer: ShcIssuer) -> None:
    verifier = ShcFormat(issuer.store())
    assert verifier.verify_jws(issuer.jws(), NOW).check is CodeCheck.VALID
    assert verifier.verify_jws("ünïcode.x.y", NOW).check is CodeCheck.UNREADABLE
    assert read_code(qr(issuer.jws()) + b"\r\n", [verifier], NOW).check is CodeCheck.VALID
    assert not verifier.matches(b"SHC:/12")
    empty = ShcFormat(TrustStore(TrustList()))
    assert empty.verify(qr(issuer.jws()), NOW).check is CodeCheck.UNKNOWN_ISSUER
