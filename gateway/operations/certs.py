"""A site's certificate authority and the certificates of its gates, collectors and broker.

Every MQTT client proves who it is with a certificate; the broker takes the certificate's
common name (CN) as the username (Mosquitto: `use_identity_as_username true`) and its ACL
decides by that name. The names:

    gate               CN "{site}/{gate}"       e.g. "xiaojiang/north-1"
    collector          CN "collector"           every collector process (one key pair each)
    community server   CN "community-server"    publishes trust lists, status lists, policy
    bridge             CN "bridge-{name}"       a district broker bridging to a central one
    broker             CN and subjectAltName = its host names and addresses (TLS server)

A gate's CN spans the two topic levels `{site}/{gate}`, so one ACL pattern line
(`pattern write checkpoint/v1/%u/entries`) confines every gate to its own topics. Slugs
never contain '+', '#' or '/', so a CN cannot widen a pattern. The site-wide topics (trust,
status) need one `user` block per gate (`gate_acl_block`), because a pattern cannot take the
site alone out of the CN.

Layout of a site's directory: `ca.crt`, `ca.key` (mode 0600) and the issued `NAME.crt` /
`NAME.key` pairs. Keys are ECDSA P-256; files are never overwritten unless asked.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.codes.files import write_atomic
from gateway.core.errors import CheckpointError

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
COLLECTOR_IDENTITY = "collector"
SERVER_IDENTITY = "community-server"
DEFAULT_PREFIX = "checkpoint/v1"
CA_DAYS = 3650
LEAF_DAYS = 825

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_BACKDATE = timedelta(minutes=5)  # tolerate clocks a little behind the one that issued


class CertificateError(CheckpointError):
    """A certificate cannot be created: bad name, missing CA, or a file already there."""


@dataclass(frozen=True, slots=True)
class IssuedFiles:
    """A certificate and its private key, both PEM."""

    cert: Path
    key: Path


def check_slug(what: str, value: str) -> str:
    if not _SLUG.match(value):
        raise CertificateError(
            f"{what} {value!r} is not a slug (lowercase letters, digits, '-'; up to 63)"
        )
    return value


def gate_identity(site: str, gate: str) -> str:
    """The CN of a gate's certificate, which is also its MQTT username."""
    return f"{check_slug('site', site)}/{check_slug('gate', gate)}"


def gate_acl_block(site: str, gate: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """The ACL lines that let one gate read its site's trust and status lists."""
    identity = gate_identity(site, gate)
    return f"user {identity}\ntopic read {prefix}/{site}/trust\ntopic read {prefix}/{site}/status\n"


def add_gate_to_acl(path: Path, site: str, gate: str, *, prefix: str = DEFAULT_PREFIX) -> bool:
    """Append the gate's block to a Mosquitto ACL file unless it has one; True if appended."""
    block = gate_acl_block(site, gate, prefix=prefix)
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise CertificateError(f"{path}: no such ACL file (start from deploy/mosquitto/)") from None
    except OSError as exc:
        raise CertificateError(f"{path}: cannot read the ACL file: {exc.strerror}") from None
    if block.splitlines()[0] in text.splitlines():
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    write_atomic(path, f"{text}{separator}\n{block}".encode(), mode=mode)
    return True


def create_ca(directory: Path, *, site: str, now: datetime, days: int = CA_DAYS) -> IssuedFiles:
    """A new certificate authority for the site in `directory` (refuses to replace one)."""
    check_slug("site", site)
    files = IssuedFiles(directory / CA_CERT, directory / CA_KEY)
    _refuse_existing(files, force=False)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"checkpoint {site} CA")
    cert = (
        _builder(name, name, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(files, cert, key)
    return files


def issue_gate(
    ca_dir: Path,
    out_dir: Path,
    *,
    site: str,
    gate: str,
    now: datetime,
    days: int = LEAF_DAYS,
    force: bool = False,
) -> IssuedFiles:
    """A gate's client certificate, `gate-{site}-{gate}.crt` / `.key` in `out_dir`."""
    identity = gate_identity(site, gate)
    return _issue_client(ca_dir, out_dir / f"gate-{site}-{gate}", identity, now, days, force)


def issue_collector(
    ca_dir: Path,
    out_dir: Path,
    *,
    name: str,
    now: datetime,
    days: int = LEAF_DAYS,
    force: bool = False,
) -> IssuedFiles:
    """A collector's client certificate, `collector-{name}.crt` / `.key` (CN "collector")."""
    check_slug("collector name", name)
    stem = out_dir / f"collector-{name}"
    return _issue_client(ca_dir, stem, COLLECTOR_IDENTITY, now, days, force)


def issue_server(
    ca_dir: Path, out_dir: Path, *, now: datetime, days: int = LEAF_DAYS, force: bool = False
) -> IssuedFiles:
    """The community server's client certificate, `community-server.crt` / `.key`."""
    stem = out_dir / SERVER_IDENTITY
    return _issue_client(ca_dir, stem, SERVER_IDENTITY, now, days, force)


def issue_bridge(
    ca_dir: Path,
    out_dir: Path,
    *,
    name: str,
    now: datetime,
    days: int = LEAF_DAYS,
    force: bool = False,
) -> IssuedFiles:
    """A bridging broker's client certificate, `bridge-{name}.crt` / `.key`."""
    identity = f"bridge-{check_slug('bridge name', name)}"
    return _issue_client(ca_dir, out_dir / identity, identity, now, days, force)


def issue_broker(
    ca_dir: Path,
    out_dir: Path,
    *,
    hosts: Sequence[str],
    now: datetime,
    days: int = LEAF_DAYS,
    force: bool = False,
) -> IssuedFiles:
    """The broker's TLS server certificate, `broker.crt` / `.key`, valid for `hosts`.

    Each host is a DNS name or an IP address; clients check it against the name they dial.
    """
    if not hosts:
        raise CertificateError("the broker certificate needs at least one host name or address")
    alt_names: list[x509.GeneralName] = [_alt_name(host) for host in hosts]
    files = IssuedFiles(out_dir / "broker.crt", out_dir / "broker.key")
    _refuse_existing(files, force=force)
    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(hosts[0]), ca_cert.subject, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(files, cert, key)
    return files


def common_name(cert_path: Path) -> str:
    """The CN of a PEM certificate file (what the broker takes as the username)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _issue_client(
    ca_dir: Path, stem: Path, identity: str, now: datetime, days: int, force: bool
) -> IssuedFiles:
    files = IssuedFiles(stem.with_name(stem.name + ".crt"), stem.with_name(stem.name + ".key"))
    _refuse_existing(files, force=force)
    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(identity), ca_cert.subject, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(files, cert, key)
    return files


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((ca_dir / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise CertificateError(
            f"{exc.filename}: no CA here; create one with 'checkpoint certs ca'"
        ) from None
    except (OSError, ValueError) as exc:
        raise CertificateError(f"{ca_dir}: cannot read the CA: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{ca_dir / CA_KEY}: not an EC private key")
    return cert, key


def _refuse_existing(files: IssuedFiles, *, force: bool) -> None:
    existing = [str(path) for path in (files.cert, files.key) if path.exists()]
    if existing and not force:
        raise CertificateError(f"{', '.join(existing)} exists; not overwriting it")


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    days: int,
) -> x509.CertificateBuilder:
    if days < 1:
        raise CertificateError("a certificate must be valid for at least one day")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
    )


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(
        ca_cert.public_key()  # type: ignore[arg-type]
    )


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write(files: IssuedFiles, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(files.key, key_pem, mode=0o600)
    write_atomic(files.cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
