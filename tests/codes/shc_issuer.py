"""A SMART Health Card issuer for tests: a real P-256 key, its JWK, and cards it signs."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.codes.cose import Algorithm
from gateway.codes.jose import b64url_encode, thumbprint
from gateway.codes.revocation import RevocationList
from gateway.codes.trust import KeyFormat, TrustedKey, TrustList, TrustStore
from tests.codes.issuer import NOW

ISS = "https://issuer.example/health"
PATIENT = {
    "resourceType": "Patient",
    "name": [{"family": "Anyperson", "given": ["John", "B."]}],
    "birthDate": "1951-01-20",
}
IMMUNIZATION = {"resourceType": "Immunization", "status": "completed"}


@dataclass(frozen=True)
class ShcIssuer:
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def kid(self) -> str:
        return thumbprint(self.private_key.public_key())

    def jwk(self, **extra: object) -> dict[str, object]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
            **extra,
        }

    def trusted_key(self, *, issuer: str = ISS, revoked: list[str] | None = None) -> TrustedKey:
        return TrustedKey(
            kid=self.kid,
            issuer=issuer,
            alg=Algorithm.ES256,
            public_key=self.private_key.public_key(),
            format=KeyFormat.SHC,
            revocations=None if revoked is None else RevocationList.from_entries(1, revoked),
        )

    def store(self, *, issuer: str = ISS, revoked: list[str] | None = None) -> TrustStore:
        key = self.trusted_key(issuer=issuer, revoked=revoked)
        return TrustStore(TrustList(version=1, keys={key.kid: key}))

    def payload(
        self,
        *,
        nbf: datetime = NOW - timedelta(days=1),
        exp: datetime | None = None,
        rid: str | None = None,
        resources: list[Any] | None = None,
        iss: str = ISS,
    ) -> dict[str, Any]:
        vc: dict[str, object] = {
            "type": ["https://smarthealth.cards#health-card"],
            "credentialSubject": {
                "fhirVersion": "4.0.1",
                "fhirBundle": {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [
                        {"fullUrl": f"resource:{n}", "resource": resource}
                        for n, resource in enumerate(resources or [PATIENT, IMMUNIZATION])
                    ],
                },
            },
        }
        if rid is not None:
            vc["rid"] = rid
        claims: dict[str, object] = {"iss": iss, "nbf": nbf.timestamp(), "vc": vc}
        if exp is not None:
            claims["exp"] = exp.timestamp()
        return claims

    def jws(self, payload: object | None = None, *, header: dict[str, object] | None = None) -> str:
        """A compact JWS of `payload` (JSON, raw DEFLATE), or of a default valid card."""
        body = json.dumps(self.payload() if payload is None else payload).encode()
        deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        compressed = deflater.compress(body) + deflater.flush()
        head = header or {"zip": "DEF", "alg": "ES256", "kid": self.kid}
        signed = f"{b64url_encode(json.dumps(head).encode())}.{b64url_encode(compressed)}"
        return f"{signed}.{b64url_encode(self.sign(signed.encode()))}"

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def numeric(jws: str) -> str:
    return "".join(f"{ord(character) - 45:02d}" for character in jws)


def qr(jws: str) -> bytes:
    return f"shc:/{numeric(jws)}".encode()


def chunks(jws: str, count: int) -> list[bytes]:
    """`shc:/C/N/...` texts of the JWS split into `count` nearly equal parts."""
    size = -(-len(jws) // count)
    parts = [jws[i : i + size] for i in range(0, len(jws), size)]
    return [f"shc:/{n}/{len(parts)}/{numeric(part)}".encode() for n, part in enumerate(parts, 1)]
