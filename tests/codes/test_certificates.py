from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.codes.certificates import SignerCertificate, read_certificates
from gateway.codes.health import Statement
from tests.codes.dcc_issuer import DccSigner

CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance"


def test_reads_what_verification_needs() -> None:
    signer = DccSigner.generate(statements=(Statement.TEST, Statement.RECOVERY))
    certificate = SignerCertificate.from_der(signer.certificate.der)
    assert certificate.country == "AT"
    assert certificate.statements == {Statement.TEST, Statement.RECOVERY}
    assert certificate.allows(Statement.RECOVERY)
    assert not certificate.allows(Statement.VACCINATION)
    assert certificate.not_before < certificate.not_after
    expected_kid = hashlib.sha256(signer.certificate.der).digest()[:8]
    assert base64.b64decode(certificate.kid) == expected_kid


def test_no_dcc_usage_means_every_statement() -> None:
    plain = DccSigner.generate()
    assert plain.certificate.statements is None
    tls_only = DccSigner.generate(extra_usages=("1.3.6.1.5.5.7.3.1",))
    assert tls_only.certificate.statements is None
    assert all(tls_only.certificate.allows(statement) for statement in Statement)


def test_certificates_in_pem_der_and_base64() -> None:
    first, second = DccSigner.generate(), DccSigner.generate()
    der = first.certificate.der
    assert read_certificates(der) == [der]
    assert read_certificates(base64.b64encode(der)) == [der]
    assert read_certificates(base64.encodebytes(der)) == [der]  # wrapped lines
    assert read_certificates(first.pem + b"junk between\n" + second.pem) == [
        der,
        second.certificate.der,
    ]
    for bad in (b"hello", b"%%%%", base64.b64encode(b"not der")):
        with pytest.raises(ValueError):
            read_certificates(bad)


def test_unusable_certificates_are_refused() -> None:
    with pytest.raises(ValueError, match=r"not an X\.509 certificate"):
        SignerCertificate.from_der(b"\x30\x03\x02\x01\x01")
    with pytest.raises(ValueError, match="unsupported"):  # the signer reads its own certificate
        DccSigner.generate(curve=ec.SECP256K1())


def _conformance_certificate(case: str) -> bytes:
    document = json.loads((CONFORMANCE / "dcc" / case).read_text(encoding="utf-8"))
    return base64.b64decode(document["TESTCTX"]["CERTIFICATE"])


def test_key_usage_despite_flaws_elsewhere_in_the_extensions() -> None:
    """A national signer whose extensions encode a default value (not DER), which makes
    them unreadable to cryptography: its key usage is still read."""
    certificate = SignerCertificate.from_der(_conformance_certificate("FI/1.json"))
    assert certificate.statements == set(Statement)
    assert certificate.country == "FI"
