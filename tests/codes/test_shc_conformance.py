"""The SMART Health Card examples in ../shared/conformance/shc/ against their issuer's keys.

The four cards go through `checkpoint check --trust issuer/.well-known/jwks.json`, which
reads the issuer's revocation list from crl/<kid>.json beside it, as the issuer publishes
it. The failure cases use the same cards, changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gateway.cli.codes import register
from gateway.codes.shc import ShcFormat, numeric_decode
from gateway.codes.trust import TrustStore
from gateway.codes.trust_files import read_trust_file
from gateway.core.values import CodeCheck
from tests.codes.shc_issuer import ShcIssuer, numeric

CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance"
SHC = CONFORMANCE / "shc"
JWKS = SHC / "issuer" / ".well-known" / "jwks.json"
ISSUER = "https://spec.smarthealth.cards/examples/issuer"
# The examples were issued on 2023-06-22; example 03 expires a year later.
AT = "2023-07-01T12:00:00Z"
NOW = datetime(2023, 7, 1, 12, tzinfo=UTC)


def _qr_texts(example: int) -> list[str]:
    assert SHC.is_dir(), f"the SMART Health Card conformance data is missing: {SHC}"
    paths = sorted(SHC.glob(f"example-{example:02d}-f-qr-code-numeric-value-*.txt"))
    assert paths, f"no QR texts of example {example} in {SHC}"
    return [path.read_text(encoding="ascii").strip() for path in paths]


def _check(*texts: str, trust: Path = JWKS) -> dict[str, object]:
    app = typer.Typer()
    register(app)
    args = ["check", "--trust", str(trust), "--at", AT, "--json"]
    result = CliRunner().invoke(app, [*args, *(f"--text={text}" for text in texts)])
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    assert (result.exit_code == 0) == (document["check"] == "valid")
    return document


@pytest.mark.parametrize("example", [0, 1, 2])
def test_the_examples_verify_against_the_issuer_jwks(example: int) -> None:
    texts = _qr_texts(example)
    document = _check(*texts)
    assert document["format"] == "shc"
    assert document["check"] == "valid", document["reasons"]
    assert document["issuer"] == ISSUER
    issuer_kids = {key["kid"] for key in json.loads(JWKS.read_bytes())["keys"]}
    assert document["kid"] in issuer_kids  # example 01 is signed by the key with an x5c chain
    assert document["colour"] == "green"


def test_example_02_is_three_chunks_that_join() -> None:
    texts = _qr_texts(2)
    assert [text.split("/")[1:3] for text in texts] == [["1", "3"], ["2", "3"], ["3", "3"]]
    partial = _check(*texts[:2])
    assert partial["check"] == "partial"
    assert partial["reasons"] == ["chunk 2 of 3 read, waiting for 3"]
    assert _check(*reversed(texts))["check"] == "valid"


def test_example_03_is_revoked() -> None:
    document = _check(*_qr_texts(3))
    assert document["check"] == "revoked"
    assert document["reasons"] == ["revoked by the issuer (rid vwAjHdarZuc)"]
    assert document["label"] == "J***** R******"


def test_the_files_and_compact_jws_verify_too() -> None:
    verifier = ShcFormat(TrustStore(read_trust_file(JWKS)))
    for example in range(4):
        jws = (SHC / f"example-{example:02d}-d-jws.txt").read_text(encoding="ascii").strip()
        card = json.loads((SHC / f"example-{example:02d}-e-file.smart-health-card").read_bytes())
        assert card["verifiableCredential"] == [jws]
        expected = CodeCheck.REVOKED if example == 3 else CodeCheck.VALID
        assert verifier.verify_jws(jws, NOW).check is expected


def _with_digit(text: str, position: int, digit: str) -> str:
    return text[:position] + digit + text[position + 1 :]


def test_a_tampered_signature_a_wrong_key_and_a_corrupted_digit_fail_each_their_own_way(
    tmp_path: Path,
) -> None:
    (text,) = _qr_texts(0)
    # One character of the signature changed to another base64url character.
    start = len("shc:/")
    jws = numeric_decode(text[start:])
    at = jws.rindex(".") + 5
    tampered = jws[:at] + ("A" if jws[at] != "A" else "B") + jws[at + 1 :]
    signature = _check("shc:/" + numeric(tampered))
    assert signature["check"] == "bad-signature"
    assert signature["reasons"] == ["signature: does not verify"]

    wrong = tmp_path / "other-issuer" / "jwks.json"
    wrong.parent.mkdir()
    wrong.write_text(json.dumps({"keys": [ShcIssuer().jwk()]}), encoding="utf-8")
    key = _check(text, trust=wrong)
    assert key["check"] == "unknown-issuer"
    assert key["reasons"] == [
        "issuer: key 3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s is not in trust list version 0"
    ]

    # A pair of digits above 77 encodes no character.
    digit = _check(_with_digit(text, start + 10, "9"))
    assert digit["check"] == "unreadable"
    assert str(digit["reasons"]).startswith("['numeric: digit pair 9")
    assert len({signature["check"], key["check"], digit["check"]}) == 3


def test_no_single_changed_digit_passes() -> None:
    (text,) = _qr_texts(1)
    verifier = ShcFormat(TrustStore(read_trust_file(JWKS)))
    start = len("shc:/")
    for position in range(start, len(text), 7):
        changed = _with_digit(text, position, str((int(text[position]) + 1) % 10))
        credential = verifier.verify(changed.encode(), NOW)
        assert credential.check is not CodeCheck.VALID, position
