"""Benchmark: offline verifications per second of each code format on this computer.

    .venv/bin/python -m benchmarks.verify [--seconds 1.0]

Community passes are signed here with each algorithm; the EU DCC (ES256, PS256) and SMART
Health Card codes are the public test vectors in ../shared/conformance/, verified as of
their own validation time. Each code goes through `read_code` with every format, as at the
gate. The target is under 2 ms per verification for ES256 and Ed25519.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.cli.codes import parse_instant
from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.formats import code_formats
from gateway.codes.keys import generate_private_key, key_id
from gateway.codes.trust import TrustedKey, TrustList, TrustStore
from gateway.codes.trust_files import certificate_keys, read_trust_file
from gateway.core.codes import read_code
from gateway.core.values import CodeCheck, CodeStatus

CONFORMANCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "conformance"
TARGET_MS = 2.0
SECRET = b"benchmark site secret, 32 bytes."


@dataclass(frozen=True)
class Case:
    name: str
    alg: str
    payload: bytes
    now: datetime
    trust: TrustList


def community_pass(alg: Algorithm) -> Case:
    key = generate_private_key(alg)
    kid = key_id(key.public_key())
    now = datetime.now(UTC)
    text = issue_pass(
        signing_key=key,
        kid=kid,
        issuer="bench",
        subject="ajhaledszonvpyolhrjghoyfym",
        label="张*华",
        unit="3-2-501",
        colour=CodeStatus.GREEN,
        issued_at=now - timedelta(hours=1),
        expires_at=now + timedelta(days=30),
    )
    trusted = TrustedKey(kid=kid, issuer="bench", alg=alg, public_key=key.public_key())
    return Case("community pass", alg.label, text.encode(), now, TrustList(keys={kid: trusted}))


def dcc(case_file: str) -> Case:
    document = json.loads((CONFORMANCE / "dcc" / case_file).read_text(encoding="utf-8"))
    context = document["TESTCTX"]
    keys = certificate_keys(context["CERTIFICATE"].encode("ascii"), source=case_file)
    return Case(
        f"EU DCC ({case_file})",
        keys[0].alg.label,
        document["PREFIX"].encode(),
        parse_instant(context["VALIDATIONCLOCK"]),
        TrustList(keys={key.kid: key for key in keys}),
    )


def health_card() -> Case:
    shc = CONFORMANCE / "shc"
    text = (shc / "example-00-f-qr-code-numeric-value-0.txt").read_text(encoding="ascii")
    trust = read_trust_file(shc / "issuer" / ".well-known" / "jwks.json")
    return Case(
        "SMART Health Card", "ES256", text.strip().encode(), datetime(2023, 7, 1, tzinfo=UTC), trust
    )


def measure(case: Case, seconds: float) -> tuple[int, float]:
    formats = code_formats(TrustStore(case.trust), secret=SECRET)
    check = read_code(case.payload, formats, case.now).check
    if check is not CodeCheck.VALID:
        raise SystemExit(f"{case.name}: the benchmark code is {check.value}, not valid")
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            read_code(case.payload, formats, case.now)
        count += 20
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per format")
    args = parser.parse_args()
    makers: list[Callable[[], Case]] = [
        lambda: community_pass(Algorithm.EDDSA),
        lambda: community_pass(Algorithm.ES256),
        lambda: dcc("DE/1.json"),
        lambda: dcc("CH/1.json"),
        health_card,
    ]
    print(f"verifications on one thread; {os.cpu_count()} CPUs here; target {TARGET_MS} ms")
    print(f"{'format':<26} {'alg':<6} {'per second':>11} {'ms each':>8}")
    for make in makers:
        try:
            case = make()
        except OSError as exc:
            print(f"skipped: {exc.filename}: {exc.strerror} (conformance data missing?)")
            continue
        count, elapsed = measure(case, args.seconds)
        per_ms = 1000 * elapsed / count
        mark = "" if case.alg == "PS256" or per_ms < TARGET_MS else "  over target"
        print(f"{case.name:<26} {case.alg:<6} {count / elapsed:>11.0f} {per_ms:>8.3f}{mark}")


if __name__ == "__main__":
    main()
