from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gateway.codes.cose import Algorithm
from gateway.codes.trust import KeyFormat, TrustListError, save_trust_list
from gateway.codes.trust_files import read_trust_file
from tests.codes.dcc_issuer import DccSigner
from tests.codes.issuer import Issuer
from tests.codes.shc_issuer import ShcIssuer


@pytest.fixture(scope="module")
def signer() -> DccSigner:
    return DccSigner.generate()


@pytest.mark.parametrize("encoding", ["pem", "der", "base64"])
def test_a_signer_certificate_becomes_a_dcc_key(
    tmp_path: Path, signer: DccSigner, encoding: str
) -> None:
    data = {
        "pem": signer.pem,
        "der": signer.certificate.der,
        "base64": base64.b64encode(signer.certificate.der) + b"\n",
    }[encoding]
    path = tmp_path / "signer"
    path.write_bytes(data)
    trust = read_trust_file(path)
    assert trust.version == 0
    (key,) = trust.keys.values()
    assert (key.kid, key.format, key.issuer) == (signer.kid, KeyFormat.DCC, "AT")
    assert key.certificate == signer.certificate
    named = read_trust_file(path, issuer="Republic of Austria")
    assert named.keys[signer.kid].issuer == "Republic of Austria"


def test_several_pem_certificates(tmp_path: Path, signer: DccSigner) -> None:
    other = DccSigner.generate()
    path = tmp_path / "signers.pem"
    path.write_bytes(signer.pem + other.pem)
    assert set(read_trust_file(path).keys) == {signer.kid, other.kid}


def test_a_trust_list_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    save_trust_list(Issuer.generate(Algorithm.EDDSA).trust_list(7), path)
    assert read_trust_file(path).version == 7


def _jwks(directory: Path, *keys: dict[str, object]) -> Path:
    path = directory / ".well-known" / "jwks.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": list(keys)}), encoding="utf-8")
    return path


def _crl(jwks: Path, kid: str, ctr: int, rids: list[str]) -> None:
    path = jwks.parent / "crl" / f"{kid}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"kid": kid, "method": "rid", "ctr": ctr, "rids": rids}))


def test_a_jwks_with_the_revocation_list_beside_it(tmp_path: Path) -> None:
    revoking, plain = ShcIssuer(), ShcIssuer()
    jwks = _jwks(tmp_path, revoking.jwk(crlVersion=2), plain.jwk())
    _crl(jwks, revoking.kid, 2, ["abc.100", "def"])
    trust = read_trust_file(jwks, issuer="https://issuer.example")
    first, second = trust.keys[revoking.kid], trust.keys[plain.kid]
    assert (first.format, first.alg, first.issuer) == (
        KeyFormat.SHC,
        Algorithm.ES256,
        "https://issuer.example",
    )
    assert first.revocations is not None and first.revocations.rids == {"abc": 100, "def": None}
    assert second.revocations is None
    assert read_trust_file(jwks).keys[plain.kid].issuer == ""  # not bound to an issuer


def test_jwks_problems_are_clear(tmp_path: Path) -> None:
    card_issuer = ShcIssuer()
    cases: dict[str, list[dict[str, object]]] = {
        "needs a non-empty 'keys' list": [],
        "is missing": [card_issuer.jwk(crlVersion=1)],
        "is not the key's thumbprint": [card_issuer.jwk(kid="k1")],
        "alg 'ES256' and use 'sig'": [card_issuer.jwk(alg="RS256")],
        "crlVersion must be": [card_issuer.jwk(crlVersion=0)],
        "not an EC P-256 key": [{"kty": "oct", "k": "AAAA"}],
    }
    for problem, keys in cases.items():
        jwks = _jwks(tmp_path / problem.replace(" ", "-").replace("'", ""), *keys)
        with pytest.raises(TrustListError, match=problem):
            read_trust_file(jwks)


def test_an_older_revocation_list_than_announced_is_refused(tmp_path: Path) -> None:
    card_issuer = ShcIssuer()
    jwks = _jwks(tmp_path, card_issuer.jwk(crlVersion=3))
    _crl(jwks, card_issuer.kid, 2, [])
    with pytest.raises(TrustListError, match="is version 2; the key announces 3"):
        read_trust_file(jwks)
    _crl(jwks, card_issuer.kid, 4, [])
    assert read_trust_file(jwks).keys[card_issuer.kid].revocations is not None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"hello", "not a trust list, JWKS or certificate"),
        (b"{broken", "not valid JSON"),
        (b'{"version": 1}', "not a valid trust list"),
    ],
)
def test_other_files_are_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "trust"
    path.write_bytes(content)
    with pytest.raises(TrustListError, match=problem):
        read_trust_file(path)
    with pytest.raises(TrustListError, match="cannot read"):
        read_trust_file(tmp_path / "absent")
