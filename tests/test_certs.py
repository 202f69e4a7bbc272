from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.operations import certs

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    certs.create_ca(directory, site="xiaojiang", now=NOW)
    return directory


def test_the_ca_signs_certificates_and_nothing_else(ca_dir: Path) -> None:
    ca = load(ca_dir / certs.CA_CERT)

    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert ca.subject == ca.issuer
    assert private(ca_dir / certs.CA_KEY)
    with pytest.raises(certs.CertificateError, match="not overwriting"):
        certs.create_ca(ca_dir, site="xiaojiang", now=NOW)


def test_a_gate_certificate_names_site_and_gate_and_is_for_clients_only(
    ca_dir: Path, tmp_path: Path
) -> None:
    files = certs.issue_gate(ca_dir, tmp_path / "out", site="xiaojiang", gate="north-1", now=NOW)
    cert = load(files.cert)

    assert files.cert.name == "gate-xiaojiang-north-1.crt"
    assert certs.common_name(files.cert) == "xiaojiang/north-1"
    cert.verify_directly_issued_by(load(ca_dir / certs.CA_CERT))
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc.date().isoformat() == "2027-06-04"  # 825 days
    assert private(files.key)


def test_collectors_and_the_server_have_role_identities(ca_dir: Path) -> None:
    collector = certs.issue_collector(ca_dir, ca_dir, name="c1", now=NOW)
    server = certs.issue_server(ca_dir, ca_dir, now=NOW)

    assert certs.common_name(collector.cert) == certs.COLLECTOR_IDENTITY == "collector"
    assert certs.common_name(server.cert) == certs.SERVER_IDENTITY == "community-server"
    assert collector.cert.name == "collector-c1.crt"


def test_the_broker_certificate_covers_its_names_and_addresses(ca_dir: Path) -> None:
    files = certs.issue_broker(ca_dir, ca_dir, hosts=["mqtt.example.org", "10.0.0.5"], now=NOW)
    cert = load(files.cert)

    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mqtt.example.org"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(certs.CertificateError, match="at least one host"):
        certs.issue_broker(ca_dir, ca_dir, hosts=[], now=NOW, force=True)


@pytest.mark.parametrize(
    ("site", "gate"), [("Xiaojiang", "north-1"), ("xiaojiang", "north/1"), ("x+", "g"), ("s", "#")]
)
def test_names_that_would_break_the_acl_patterns_are_refused(
    ca_dir: Path, site: str, gate: str
) -> None:
    with pytest.raises(certs.CertificateError, match="not a slug"):
        certs.issue_gate(ca_dir, ca_dir, site=site, gate=gate, now=NOW)


def test_issuing_needs_the_ca_and_keeps_existing_files(ca_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(certs.CertificateError, match="checkpoint certs ca"):
        certs.issue_gate(tmp_path / "empty", tmp_path, site="s", gate="g", now=NOW)

    first = certs.issue_gate(ca_dir, ca_dir, site="s", gate="g", now=NOW)
    before = first.cert.read_bytes()
    with pytest.raises(certs.CertificateError, match="not overwriting"):
        certs.issue_gate(ca_dir, ca_dir, site="s", gate="g", now=NOW)
    assert first.cert.read_bytes() == before
    assert certs.issue_gate(ca_dir, ca_dir, site="s", gate="g", now=NOW, force=True) == first
    assert first.cert.read_bytes() != before


def test_a_gate_is_added_to_the_acl_once(tmp_path: Path) -> None:
    acl = tmp_path / "checkpoint.acl"
    acl.write_text("pattern write checkpoint/v1/%u/entries")
    acl.chmod(0o640)

    assert certs.add_gate_to_acl(acl, "xiaojiang", "north-1")
    assert not certs.add_gate_to_acl(acl, "xiaojiang", "north-1")
    assert certs.add_gate_to_acl(acl, "xiaojiang", "south-2")

    text = acl.read_text()
    assert text.startswith("pattern write checkpoint/v1/%u/entries\n\nuser xiaojiang/north-1\n")
    assert text.count("topic read checkpoint/v1/xiaojiang/trust\n") == 2
    assert stat.S_IMODE(acl.stat().st_mode) == 0o640
    with pytest.raises(certs.CertificateError, match="no such ACL file"):
        certs.add_gate_to_acl(tmp_path / "missing.acl", "xiaojiang", "north-1")
