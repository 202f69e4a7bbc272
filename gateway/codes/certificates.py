"""X.509 signer certificates of health-code issuers (the EU DCC's document signers).

Only what verification needs is read: the public key, the validity window, the country and
the extended key usage that limits a signer to some kinds of statement.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import NameOID

from gateway.codes.cose import PublicKey, algorithm_of
from gateway.codes.health import Statement

# The DCC's key-usage OIDs, in the form of the specification and the form signers use.
_STATEMENT_OIDS = {
    Statement.TEST: ("1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"),
    Statement.VACCINATION: ("1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"),
    Statement.RECOVERY: ("1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"),
}
_EXTENDED_KEY_USAGE = bytes.fromhex("551d25")  # 2.5.29.37, DER content of the OID
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
_SEQUENCE, _OID, _EXTENSIONS = 0x30, 0x06, 0xA3


@dataclass(frozen=True, slots=True)
class SignerCertificate:
    """A signer's certificate as read once from its DER bytes."""

    der: bytes
    public_key: PublicKey
    not_before: datetime
    not_after: datetime
    country: str | None
    # The statements the signer may make; None when it is not limited to some.
    statements: frozenset[Statement] | None

    @classmethod
    def from_der(cls, der: bytes) -> SignerCertificate:
        """ValueError when `der` is not a certificate with a key we can verify with."""
        try:
            certificate = x509.load_der_x509_certificate(der)
            public_key = certificate.public_key()
            countries = certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError("not an X.509 certificate we can read") from None
        if not isinstance(public_key, PublicKey):
            raise ValueError(f"its {type(public_key).__name__} cannot verify health codes")
        algorithm_of(public_key)  # ValueError for a curve we do not verify
        country = countries[0].value if countries else None
        return cls(
            der=der,
            public_key=public_key,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            country=country if isinstance(country, str) else None,
            statements=_statements(der),
        )

    @property
    def kid(self) -> str:
        """The DCC key id: first 8 bytes of SHA-256 over the DER, base64."""
        return base64.b64encode(hashlib.sha256(self.der).digest()[:8]).decode("ascii")

    def allows(self, statement: Statement) -> bool:
        return self.statements is None or statement in self.statements


def read_certificates(data: bytes) -> list[bytes]:
    """The DER bytes of the certificates in `data`: PEM (one or more), DER, or base64 DER.

    ValueError when `data` holds none of these.
    """
    pem = _PEM.findall(data)
    if pem:
        return [_base64(body) for body in pem]
    if data[:1] == bytes([_SEQUENCE]):
        return [data]
    return [_base64(data)]


def _base64(text: bytes) -> bytes:
    try:
        der = base64.b64decode(b"".join(text.split()), validate=True)
    except binascii.Error:
        raise ValueError("neither PEM, DER nor base64 DER") from None
    if der[:1] != bytes([_SEQUENCE]):
        raise ValueError("the base64 text is no DER certificate")
    return der


def _statements(der: bytes) -> frozenset[Statement] | None:
    """The statements the extended key usage allows: None when it names no DCC usage.

    A signer whose certificate names none of the DCC OIDs may sign every kind, as in the
    EU reference verifiers.
    """
    usages = _extended_key_usage(der)
    if usages is None:
        return None
    allowed = frozenset(s for s, oids in _STATEMENT_OIDS.items() if usages.intersection(oids))
    return allowed or None


def _extended_key_usage(der: bytes) -> frozenset[str] | None:
    """The extended-key-usage OIDs read straight from the DER: several national signers have
    encoding flaws elsewhere in their extensions that make the whole block unreadable to
    cryptography. None when the certificate has no such extension."""
    try:
        (tag, certificate), *_ = _items(der)
        (tag, tbs), *_ = _items(certificate)
        for tag, content in _items(tbs):
            if tag != _EXTENSIONS:
                continue
            ((_, extensions),) = _items(content)
            for _, extension in _items(extensions):
                (oid_tag, oid), *_, (_, value) = _items(extension)
                if (oid_tag, oid) == (_OID, _EXTENDED_KEY_USAGE):
                    ((_, purposes),) = _items(value)
                    return frozenset(_dotted(oid) for tag, oid in _items(purposes) if tag == _OID)
    except ValueError:  # also a failed unpacking: malformed DER
        raise ValueError("the certificate's extensions are malformed") from None
    return None


def _items(data: bytes) -> list[tuple[int, bytes]]:
    return list(_walk(data))


def _walk(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, content) of each DER item in `data`, in order."""
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ValueError("truncated DER")
        tag, length = data[offset], data[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            if not 0 < count <= 4 or offset + count > len(data):
                raise ValueError("bad DER length")
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        if offset + length > len(data):
            raise ValueError("truncated DER")
        yield tag, data[offset : offset + length]
        offset += length


def _dotted(oid: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in oid:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))
