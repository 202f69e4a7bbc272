"""A community issuer for tests: a real key, its trust list, and passes it signs."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cbor2

from gateway.codes import cose
from gateway.codes.community_pass import PREFIX, CommunityPassFormat, issue_pass
from gateway.codes.cose import Algorithm, PrivateKey
from gateway.codes.keys import generate_private_key, key_id
from gateway.codes.trust import TrustedKey, TrustList, TrustStore
from gateway.core.values import CodeStatus

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ISSUER = "xiaojiang"


@dataclass(frozen=True)
class Issuer:
    private_key: PrivateKey
    kid: str
    alg: Algorithm

    @classmethod
    def generate(cls, alg: Algorithm) -> Issuer:
        key = generate_private_key(alg)
        return cls(private_key=key, kid=key_id(key.public_key()), alg=alg)

    def trusted_key(self, *, issuer: str = ISSUER, not_after: datetime | None = None) -> TrustedKey:
        return TrustedKey(
            kid=self.kid,
            issuer=issuer,
            alg=self.alg,
            public_key=self.private_key.public_key(),
            not_after=not_after,
        )

    def trust_list(self, version: int = 1, *, not_after: datetime | None = None) -> TrustList:
        key = self.trusted_key(not_after=not_after)
        return TrustList(version=version, issued_at=NOW, site=ISSUER, keys={self.kid: key})

    def verifier(self, *, not_after: datetime | None = None) -> CommunityPassFormat:
        return CommunityPassFormat(TrustStore(self.trust_list(not_after=not_after)))

    def issue(
        self,
        *,
        colour: CodeStatus = CodeStatus.GREEN,
        issued_at: datetime = NOW - timedelta(hours=1),
        expires_at: datetime = NOW + timedelta(days=30),
        issuer: str = ISSUER,
        kid: str | None = None,
    ) -> str:
        return issue_pass(
            signing_key=self.private_key,
            kid=kid or self.kid,
            issuer=issuer,
            subject="ajhaledszonvpyolhrjghoyfym",
            label="张*华",
            unit="3-2-501",
            colour=colour,
            issued_at=issued_at,
            expires_at=expires_at,
        )

    def sign_claims(self, claims: object) -> bytes:
        """Any CBOR value signed as a pass payload: for claims a real issuer would not make."""
        message = cose.sign1(cbor2.dumps(claims), self.private_key, base64.b64decode(self.kid))
        return cose.encode_text(message, PREFIX).encode("ascii")


def valid_claims() -> dict[str, object]:
    return {
        "iss": ISSUER,
        "sub": "ajhaledszonvpyolhrjghoyfym",
        "lbl": "张*华",
        "unit": "3-2-501",
        "col": "green",
        "iat": int((NOW - timedelta(hours=1)).timestamp()),
        "exp": int((NOW + timedelta(days=30)).timestamp()),
    }
