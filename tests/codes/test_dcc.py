from __future__ import annotations

import base64
from datetime import datetime, timedelta

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.codes import cose
from gateway.codes.community_pass import CommunityPassFormat
from gateway.codes.cose import Algorithm
from gateway.codes.dcc import PREFIX, DccFormat
from gateway.codes.health import ColourRule, Statement
from gateway.codes.pseudonym import person_pseudonym
from gateway.codes.trust import TrustedKey, TrustList, TrustStore
from gateway.core.codes import read_code
from gateway.core.values import CodeCheck, CodeStatus, Credential
from tests.codes.dcc_issuer import NAMES, DccSigner, claims
from tests.codes.issuer import NOW, Issuer

SECRET = b"a site secret of at least sixteen bytes"
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"


@pytest.fixture(scope="module", params=[Algorithm.ES256, Algorithm.PS256], ids=["ES256", "PS256"])
def signer(request: pytest.FixtureRequest) -> DccSigner:
    return DccSigner.generate(request.param)


@pytest.fixture(scope="module")
def es256() -> DccSigner:
    return DccSigner.generate()


def _verify(signer: DccSigner, text: str, *, now: datetime = NOW) -> Credential:
    return DccFormat(signer.store()).verify(text.encode(), now)


def test_valid_certificate_round_trip(signer: DccSigner) -> None:
    text = signer.issue(Statement.VACCINATION)
    assert text.startswith("HC1:")
    credential = DccFormat(signer.store(), secret=SECRET).verify(text.encode(), NOW)
    assert credential.check is CodeCheck.VALID, credential.detail
    assert credential.format == "dcc"
    assert credential.status is CodeStatus.GREEN
    assert credential.label == "G******* M******************"
    assert credential.subject == person_pseudonym(
        SECRET, family="MUSTERFRAU<GOESSINGER", given="GABRIELE", birth_date="1998-02-26"
    )
    assert credential.issuer == "AT"
    assert credential.kid == signer.kid
    assert credential.issued_at == NOW - timedelta(days=1)
    assert credential.expires_at == NOW + timedelta(days=180)
    assert credential.detail == ""


def test_without_a_site_secret_there_is_no_subject(es256: DccSigner) -> None:
    credential = DccFormat(es256.store()).verify(es256.issue().encode(), NOW)
    assert credential.check is CodeCheck.VALID
    assert credential.subject is None
    assert credential.label == "G******* M******************"


def test_the_pseudonym_follows_the_standardised_names_and_birth_date(es256: DccSigner) -> None:
    verifier = DccFormat(es256.store(), secret=SECRET)

    def subject(
        names: dict[str, str] | None = None,
        birth_date: str = "1998-02-26",
        statement: Statement = Statement.VACCINATION,
    ) -> str | None:
        text = es256.issue(statement, names={**NAMES, **(names or {})}, birth_date=birth_date)
        return verifier.verify(text.encode(), NOW).subject

    plain = subject()
    assert subject(names={"fn": "Musterfrau Gößinger", "gn": "Gabi"}) == plain
    assert subject(names={"gnt": "GABRIELA"}) != plain
    assert subject(birth_date="1998-02-27") != plain
    assert subject(statement=Statement.TEST) == plain


def test_colour_comes_from_the_site_rule(es256: DccSigner) -> None:
    rule = ColourRule(test=CodeStatus.YELLOW, recovery=CodeStatus.RED)
    verifier = DccFormat(es256.store(), colours=rule)
    expected = {
        Statement.VACCINATION: CodeStatus.GREEN,
        Statement.TEST: CodeStatus.YELLOW,
        Statement.RECOVERY: CodeStatus.RED,
    }
    for statement, colour in expected.items():
        assert verifier.verify(es256.issue(statement).encode(), NOW).status is colour


def test_expiry_is_inclusive_of_the_last_second(es256: DccSigner) -> None:
    text = es256.issue(expires_at=NOW)
    assert _verify(es256, text).check is CodeCheck.VALID
    expired = _verify(es256, text, now=NOW + timedelta(seconds=1))
    assert expired.check is CodeCheck.EXPIRED
    assert expired.status is CodeStatus.UNKNOWN
    assert expired.label == "G******* M******************"


def test_issued_in_the_future_beyond_the_clock_skew(es256: DccSigner) -> None:
    future = es256.issue(issued_at=NOW + timedelta(minutes=10))
    credential = _verify(es256, future)
    assert credential.check is CodeCheck.NOT_YET_VALID
    assert "future" in credential.detail
    within_skew = es256.issue(issued_at=NOW + timedelta(minutes=4))
    assert _verify(es256, within_skew).check is CodeCheck.VALID


def test_signer_certificate_validity_window() -> None:
    old = DccSigner.generate(not_after=NOW - timedelta(days=1))
    credential = _verify(old, old.issue())
    assert credential.check is CodeCheck.EXPIRED
    assert "signer certificate expired" in credential.detail
    young = DccSigner.generate(not_before=NOW + timedelta(days=1))
    credential = _verify(young, young.issue())
    assert credential.check is CodeCheck.NOT_YET_VALID
    assert "valid from" in credential.detail


def test_trust_list_expiry_of_the_key(es256: DccSigner) -> None:
    store = es256.store(not_after=NOW - timedelta(hours=1))
    credential = DccFormat(store).verify(es256.issue().encode(), NOW)
    assert credential.check is CodeCheck.EXPIRED
    assert "signing key" in credential.detail


@pytest.mark.parametrize(
    ("allowed", "statement", "check"),
    [
        ((Statement.TEST,), Statement.VACCINATION, CodeCheck.UNKNOWN_ISSUER),
        ((Statement.TEST,), Statement.TEST, CodeCheck.VALID),
        ((Statement.VACCINATION, Statement.RECOVERY), Statement.RECOVERY, CodeCheck.VALID),
        ((Statement.VACCINATION, Statement.RECOVERY), Statement.TEST, CodeCheck.UNKNOWN_ISSUER),
        ((), Statement.TEST, CodeCheck.VALID),
    ],
)
def test_key_usage_of_the_signer_certificate(
    allowed: tuple[Statement, ...], statement: Statement, check: CodeCheck
) -> None:
    signer = DccSigner.generate(statements=allowed, extra_usages=(SERVER_AUTH,))
    credential = _verify(signer, signer.issue(statement))
    assert credential.check is check
    if check is CodeCheck.UNKNOWN_ISSUER:
        assert credential.detail.startswith("key-usage:")
        assert statement.value in credential.detail


def test_the_specification_form_of_the_usage_oids_counts_too() -> None:
    signer = DccSigner.generate(extra_usages=("1.3.6.1.4.1.1847.2021.1.1",))
    assert signer.certificate.statements == {Statement.TEST}
    assert _verify(signer, signer.issue(Statement.TEST)).check is CodeCheck.VALID
    vaccination = _verify(signer, signer.issue(Statement.VACCINATION))
    assert vaccination.check is CodeCheck.UNKNOWN_ISSUER


def test_unknown_key_id(es256: DccSigner) -> None:
    stranger = DccSigner.generate()
    credential = _verify(es256, stranger.issue())
    assert credential.check is CodeCheck.UNKNOWN_ISSUER
    assert credential.kid == stranger.kid
    assert "not in trust list version 1" in credential.detail


def test_keys_sign_only_their_own_format(es256: DccSigner) -> None:
    as_pass_key = TrustedKey(
        kid=es256.kid, issuer="AT", alg=Algorithm.ES256, public_key=es256.private_key.public_key()
    )
    store = TrustStore(TrustList(version=1, keys={es256.kid: as_pass_key}))
    dcc = DccFormat(store).verify(es256.issue().encode(), NOW)
    assert dcc.check is CodeCheck.UNKNOWN_ISSUER
    # A health authority's signer cannot sign community passes.
    community = Issuer(private_key=es256.private_key, kid=es256.kid, alg=Algorithm.ES256)
    forged_pass = community.issue(issuer="AT").encode()
    assert CommunityPassFormat(es256.store()).verify(forged_pass, NOW).check is (
        CodeCheck.UNKNOWN_ISSUER
    )


def test_forged_with_the_trusted_kid_is_bad_signature(es256: DccSigner) -> None:
    forger = DccSigner.generate()
    forged = forger.sign_claims(claims(), kid=base64.b64decode(es256.kid))
    credential = _verify(es256, forged)
    assert credential.check is CodeCheck.BAD_SIGNATURE
    assert credential.label is None and credential.subject is None


def _rewrap(text: str, wrap: str, *, unprotected: dict[int, object] | None = None) -> bytes:
    message = cose.decode_text(text.encode(), PREFIX)
    array = [message.protected, unprotected or {}, message.payload, message.signature]
    item = {
        "tag18": cbor2.CBORTag(18, array),
        "tag61": cbor2.CBORTag(61, cbor2.CBORTag(18, array)),
        "untagged": array,
    }[wrap]
    return cose.encode_text(cbor2.dumps(item), PREFIX).encode()


@pytest.mark.parametrize("wrap", ["tag18", "tag61", "untagged"])
def test_tagging_variants_are_accepted(es256: DccSigner, wrap: str) -> None:
    credential = DccFormat(es256.store()).verify(_rewrap(es256.issue(), wrap), NOW)
    assert credential.check is CodeCheck.VALID


def test_tampered_payload_is_bad_signature(es256: DccSigner) -> None:
    message = cose.decode_text(es256.issue(Statement.TEST).encode(), PREFIX)
    changed = cbor2.loads(message.payload)
    changed[-260][1]["v"] = changed[-260][1].pop("t")
    array = [message.protected, {}, cbor2.dumps(changed), message.signature]
    text = cose.encode_text(cbor2.dumps(cbor2.CBORTag(18, array)), PREFIX).encode()
    assert DccFormat(es256.store()).verify(text, NOW).check is CodeCheck.BAD_SIGNATURE


def _signed_with_headers(
    signer: DccSigner, protected: dict[int, object], unprotected: dict[int, object]
) -> bytes:
    """A DCC whose headers are laid out by hand (ES256 signers only)."""
    key = signer.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    protected_bytes = cbor2.dumps(protected) if protected else b""
    payload = cbor2.dumps(claims())
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    array = [protected_bytes, unprotected, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")]
    return cose.encode_text(cbor2.dumps(cbor2.CBORTag(18, array)), PREFIX).encode()


def test_key_id_from_the_protected_header_first(es256: DccSigner) -> None:
    kid, wrong = base64.b64decode(es256.kid), b"wrongkid"
    verifier = DccFormat(es256.store())

    def check(protected: dict[int, object], unprotected: dict[int, object]) -> CodeCheck:
        return verifier.verify(_signed_with_headers(es256, protected, unprotected), NOW).check

    assert check({1: -7}, {4: kid}) is CodeCheck.VALID
    assert check({1: -7, 4: kid}, {4: wrong}) is CodeCheck.VALID
    assert check({1: -7, 4: wrong}, {4: kid}) is CodeCheck.UNKNOWN_ISSUER
    assert check({}, {1: -7, 4: kid}) is CodeCheck.VALID  # alg unprotected: still ES256 only
    assert check({1: -7}, {}) is CodeCheck.UNREADABLE


def test_a_long_key_id_is_cut_to_eight_bytes(es256: DccSigner) -> None:
    text = es256.sign_claims(claims(), kid=base64.b64decode(es256.kid) + b"\x00" * 24)
    credential = _verify(es256, text)
    assert credential.check is CodeCheck.VALID
    assert credential.kid == es256.kid


def test_a_p384_signer_signs_es256() -> None:
    signer = DccSigner.generate(curve=ec.SECP384R1())
    credential = _verify(signer, signer.issue())
    assert credential.check is CodeCheck.VALID, credential.detail
    assert len(cose.decode_text(signer.issue().encode(), PREFIX).signature) == 96


def test_compression_is_required(es256: DccSigner) -> None:
    message = cose.sign1(cbor2.dumps(claims()), es256.private_key, base64.b64decode(es256.kid))
    uncompressed = b"HC1:" + base45.b45encode(message)
    credential = DccFormat(es256.store()).verify(uncompressed, NOW)
    assert credential.check is CodeCheck.UNREADABLE
    assert credential.detail == "compression: not zlib-compressed"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({**claims(), -260: {1: b"not a map"}}, "no health certificate"),
        ({4: 2000000000, 6: 1000000000}, "no health certificate"),
        (claims(nam={"fn": "X"}), "nam.fnt"),
        (claims(nam="MUSTERFRAU"), "nam is not a map"),
        (claims(nam={**NAMES, "gnt": 7}), "nam.gnt"),
        (claims(dob=None), "dob is missing"),
        (claims(t=[{"tg": "840539006"}]), "exactly one of v, t and r"),
        (claims(v=[]), "exactly one of v, t and r"),
        ({**claims(), 4: "tomorrow"}, "exp is not a number"),
        ({**claims(), 6: True}, "iat is not a number"),
        ({**claims(), 4: 10**20}, "exp is out of range"),
        ({key: value for key, value in claims().items() if key != 4}, "missing claim exp"),
        ({**claims(), 1: 7}, "iss is not text"),
        ([1, 2, 3], "not a CBOR map"),
    ],
)
def test_signed_claims_of_the_wrong_shape_are_unreadable(
    es256: DccSigner, payload: object, problem: str
) -> None:
    credential = _verify(es256, es256.sign_claims(payload))
    assert credential.check is CodeCheck.UNREADABLE
    assert credential.detail.startswith("payload: ")
    assert problem in credential.detail


def test_lenient_where_issuers_differ(es256: DccSigner) -> None:
    """Null or empty absent kinds, fractional times, a date of birth with a time, no gnt."""
    payload = claims(r=[], dob="1978-01-26T00:00:00", nam={"fnt": "PETKOV"})
    payload[-260][1]["t"] = None
    payload[4], payload[6] = payload[4] + 0.5, payload[6] + 0.25
    credential = DccFormat(es256.store(), secret=SECRET).verify(
        es256.sign_claims(payload).encode(), NOW
    )
    assert credential.check is CodeCheck.VALID, credential.detail
    assert credential.label == "P****V"
    assert credential.subject == person_pseudonym(
        SECRET, family="PETKOV", given="", birth_date="1978-01-26"
    )


def test_read_code_routes_hc1_to_the_format(es256: DccSigner) -> None:
    verifier = DccFormat(es256.store())
    assert read_code(es256.issue().encode(), [verifier], NOW).check is CodeCheck.VALID
    assert not verifier.matches(b"CP1:NCF")
    assert read_code(b"HC2:NCF", [verifier], NOW).check is CodeCheck.UNVERIFIABLE
