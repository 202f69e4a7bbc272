"""EU DCC conformance: every case of the public test data through `checkpoint check`.

Each case in ../shared/conformance/dcc/ (see its README) is checked exactly as a technician
would: `checkpoint check --text PREFIX --trust <the case's certificate> --at VALIDATIONCLOCK
--json`. The verdict says how far the code got, and so which steps succeeded:

    not HC1: / prefix:    EXPECTEDUNPREFIX fails
    base45:               EXPECTEDB45DECODE fails
    compression:          EXPECTEDCOMPRESSION fails
    cose:                 EXPECTEDDECODE fails (the COSE structure), and so does EXPECTEDVERIFY
    unknown key id, bad signature: EXPECTEDVERIFY fails
    payload:              EXPECTEDDECODE fails (the CWT claims, read after the signature)
    expired, not yet valid: EXPECTEDEXPIRATIONCHECK fails
    key-usage:            EXPECTEDKEYUSAGE fails

Steps before the failing one succeeded; a flag whose step was never reached disagrees.
EXPECTEDPICTUREDECODE is checked by decoding the case's PNG with the gateway's camera
decoder (devices.qr_decode, zxing-cpp) and comparing with PREFIX. Flags about the JSON
rendering (EXPECTEDVALIDJSON, EXPECTEDSCHEMAVALIDATION, EXPECTEDENCODE, EXPECTEDVALIDOBJECT)
concern producing certificates, not verifying them, and are not checked.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import typer
from typer.testing import CliRunner

from devices.qr_decode import decoder
from gateway.cli.codes import register

CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance"
DCC = CONFORMANCE / "dcc"

FLAGS = (
    "EXPECTEDUNPREFIX",
    "EXPECTEDB45DECODE",
    "EXPECTEDCOMPRESSION",
    "EXPECTEDDECODE",
    "EXPECTEDVERIFY",
    "EXPECTEDEXPIRATIONCHECK",
    "EXPECTEDKEYUSAGE",
    "EXPECTEDPICTUREDECODE",
)
# Some files misspell EXPECTEDEXPIRATIONCHECK.
ALIASES = {"EXPTECTEDEXPIRED": "EXPECTEDEXPIRATIONCHECK"}

# The steps in the order the verifier takes them; EXPECTEDDECODE covers two of them.
_STEPS = {
    "EXPECTEDUNPREFIX": (0,),
    "EXPECTEDB45DECODE": (1,),
    "EXPECTEDCOMPRESSION": (2,),
    "EXPECTEDDECODE": (3, 5),
    "EXPECTEDVERIFY": (3, 4),  # no signature to check without a COSE structure
    "EXPECTEDEXPIRATIONCHECK": (6,),
    "EXPECTEDKEYUSAGE": (7,),
}
_LAYER_STEPS = {"prefix": 0, "base45": 1, "compression": 2, "cose": 3, "payload": 5}

EXCLUDED = {
    ("IS/3.json", "EXPECTEDKEYUSAGE"): (
        "the signer's extended key usage names only 2.23.136.1.1.14.2 and none of the DCC "
        "usages; like the EU reference verifiers we let such a signer sign every kind"
    ),
    **{
        (case, "EXPECTEDPICTUREDECODE"): "the flag is set but the case carries no 2DCODE image"
        for case in ("IE/1.json", "IE/2.json", "IE/3.json", "IE/4.json", "common/B1.json")
    },
}


def _cases() -> list[Path]:
    assert DCC.is_dir(), f"the DCC conformance data is missing: {DCC}"
    cases = sorted(DCC.glob("*/*.json"))
    assert cases, f"no DCC test cases in {DCC}"
    return cases


def _check(case: dict[str, object], workdir: Path) -> dict[str, object]:
    """`checkpoint check` on the case, as its JSON document."""
    context = case["TESTCTX"]
    assert isinstance(context, dict)
    certificate = workdir / "signer.b64"
    certificate.write_text(str(context["CERTIFICATE"]), encoding="ascii")
    app = typer.Typer()
    register(app)
    args = ["check", "--text", str(case["PREFIX"]), "--trust", str(certificate), "--json"]
    result = CliRunner().invoke(app, [*args, "--at", str(context["VALIDATIONCLOCK"])])
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    assert (result.exit_code == 0) == (document["check"] == "valid")
    return document


def _failed_step(document: dict[str, object]) -> int | None:
    check, reasons = document["check"], document["reasons"]
    reason = str(reasons[0]) if isinstance(reasons, list) and reasons else ""
    if document["format"] != "dcc":
        return 0
    if check == "valid":
        return None
    if check == "unreadable":
        return _LAYER_STEPS[reason.split(":")[0]]
    if check == "unknown-issuer":
        return 7 if reason.startswith("key-usage:") else 4
    if check == "bad-signature":
        return 4
    assert check in ("expired", "not-yet-valid"), document
    return 6


def _outcome(flag: str, failed: int | None) -> bool | None:
    """True: the step succeeded, False: it failed, None: it was never reached."""
    steps = _STEPS[flag]
    if failed is None or all(step < failed for step in steps):
        return True
    if failed in steps:
        return False
    return None


def _picture(case: dict[str, object]) -> bool | None:
    image = case.get("2DCODE") or case.get("_2DCODE")
    if not isinstance(image, str):
        return None
    data = np.frombuffer(base64.b64decode(image), dtype=np.uint8)
    gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if gray is None:  # not even an image: nothing to read
        return False
    payloads = [found.payload for found in decoder("zxing")(gray)]
    return payloads == [str(case["PREFIX"]).encode()]


def test_every_dcc_case_agrees_with_its_expected_results(tmp_path: Path) -> None:
    tally: dict[str, Counter[str]] = {flag: Counter() for flag in FLAGS}
    disagreements: list[str] = []
    cases = _cases()
    for path in cases:
        name = path.relative_to(DCC).as_posix()
        case = json.loads(path.read_text(encoding="utf-8"))
        expected = {ALIASES.get(k, k): v for k, v in case["EXPECTEDRESULTS"].items()}
        failed = _failed_step(_check(case, tmp_path))
        for flag in FLAGS:
            if flag not in expected:
                continue
            if (name, flag) in EXCLUDED:
                tally[flag]["excluded"] += 1
                continue
            picture = flag == "EXPECTEDPICTUREDECODE"
            got = _picture(case) if picture else _outcome(flag, failed)
            agrees = got is expected[flag]
            tally[flag]["passed" if agrees else "failed"] += 1
            if not agrees:
                disagreements.append(f"{name} {flag}: expected {expected[flag]}, got {got}")
    report = "\n".join(
        [f"DCC conformance: {len(cases)} cases"]
        + [
            f"  {flag}: {count['passed']} passed, {count['failed']} failed"
            + (f", {count['excluded']} excluded" if count["excluded"] else "")
            for flag, count in tally.items()
        ]
        + [f"  excluded {case} {flag}: {why}" for (case, flag), why in EXCLUDED.items()]
        + [f"  DISAGREES {line}" for line in disagreements]
    )
    print(report)
    assert not disagreements, report
    assert all(count["passed"] for count in tally.values()), report
