"""A DCC document signer for tests: a real key, its X.509 certificate, and DCCs it signs."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from gateway.codes import cose
from gateway.codes.certificates import SignerCertificate
from gateway.codes.cose import Algorithm, PrivateKey
from gateway.codes.dcc import PREFIX
from gateway.codes.health import Statement
from gateway.codes.trust import KeyFormat, TrustedKey, TrustList, TrustStore
from tests.codes.issuer import NOW

USAGE_OIDS = {
    Statement.TEST: "1.3.6.1.4.1.0.1847.2021.1.1",
    Statement.VACCINATION: "1.3.6.1.4.1.0.1847.2021.1.2",
    Statement.RECOVERY: "1.3.6.1.4.1.0.1847.2021.1.3",
}
NAMES = {
    "fn": "Musterfrau-Gößinger",
    "fnt": "MUSTERFRAU<GOESSINGER",
    "gn": "Gabriele",
    "gnt": "GABRIELE",
}
ENTRIES: dict[Statement, tuple[str, dict[str, object]]] = {
    Statement.VACCINATION: ("v", {"tg": "840539006", "dn": 2, "sd": 2, "dt": "2021-02-18"}),
    Statement.TEST: ("t", {"tg": "840539006", "tt": "LP6464-4", "tr": "260415000"}),
    Statement.RECOVERY: ("r", {"tg": "840539006", "fr": "2021-02-20", "du": "2021-08-20"}),
}


@dataclass(frozen=True)
class DccSigner:
    private_key: PrivateKey
    certificate: SignerCertificate

    @classmethod
    def generate(
        cls,
        alg: Algorithm = Algorithm.ES256,
        *,
        statements: tuple[Statement, ...] = (),
        not_before: datetime = NOW - timedelta(days=365),
        not_after: datetime = NOW + timedelta(days=365),
        extra_usages: tuple[str, ...] = (),
        curve: ec.EllipticCurve | None = None,
    ) -> DccSigner:
        """A self-signed signer; `statements` become DCC key-usage OIDs (none: unrestricted)."""
        key: PrivateKey = (
            ec.generate_private_key(curve or ec.SECP256R1())
            if alg is Algorithm.ES256
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "AT"),
                x509.NameAttribute(NameOID.COMMON_NAME, "DSC test"),
            ]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        usages = [USAGE_OIDS[s] for s in statements] + list(extra_usages)
        if usages:
            eku = x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in usages])
            builder = builder.add_extension(eku, critical=False)
        rsa_padding = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        certificate = (
            builder.sign(key, hashes.SHA256(), rsa_padding=rsa_padding)
            if alg is Algorithm.PS256
            else builder.sign(key, hashes.SHA256())
        )
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(private_key=key, certificate=SignerCertificate.from_der(der))

    @property
    def kid(self) -> str:
        return self.certificate.kid

    @property
    def pem(self) -> bytes:
        body = base64.encodebytes(self.certificate.der)
        return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"

    def trusted_key(self, *, not_after: datetime | None = None) -> TrustedKey:
        return TrustedKey(
            kid=self.kid,
            issuer="AT",
            alg=cose.algorithm_of(self.private_key.public_key()),
            public_key=self.private_key.public_key(),
            not_after=not_after,
            format=KeyFormat.DCC,
            certificate=self.certificate,
        )

    def store(self, *, not_after: datetime | None = None) -> TrustStore:
        key = self.trusted_key(not_after=not_after)
        return TrustStore(TrustList(version=1, keys={key.kid: key}))

    def issue(
        self,
        statement: Statement = Statement.VACCINATION,
        *,
        issued_at: datetime = NOW - timedelta(days=1),
        expires_at: datetime = NOW + timedelta(days=180),
        names: dict[str, str] | None = None,
        birth_date: str = "1998-02-26",
    ) -> str:
        key, entry = ENTRIES[statement]
        hcert = {"ver": "1.3.0", "nam": names or NAMES, "dob": birth_date, key: [entry]}
        return self.sign_claims(
            {
                1: "AT",
                4: int(expires_at.timestamp()),
                6: int(issued_at.timestamp()),
                -260: {1: hcert},
            }
        )

    def sign_claims(self, claims: object, *, kid: bytes | None = None) -> str:
        """Any CBOR value signed as a DCC payload, kid in the protected header."""
        raw_kid = base64.b64decode(self.kid) if kid is None else kid
        message = cose.sign1(cbor2.dumps(claims), self.private_key, raw_kid)
        return cose.encode_text(message, PREFIX)


def claims(**hcert_changes: object) -> dict[int, Any]:
    """Valid CWT claims of a vaccination certificate, with `hcert` fields changed."""
    hcert: dict[str, object] = {
        "ver": "1.3.0",
        "nam": NAMES,
        "dob": "1998-02-26",
        "v": [ENTRIES[Statement.VACCINATION][1]],
        **hcert_changes,
    }
    hcert = {key: value for key, value in hcert.items() if value is not None}
    issued = int((NOW - timedelta(days=1)).timestamp())
    return {1: "AT", 4: issued + 200 * 86400, 6: issued, -260: {1: hcert}}
