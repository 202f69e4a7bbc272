from __future__ import annotations

import base64
import hashlib
import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.codes.community_pass import CommunityPassFormat, issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.dcc import DccFormat
from gateway.codes.keys import (
    KeyDirectory,
    KeyDirectoryError,
    generate_private_key,
    key_id,
    read_secret,
)
from gateway.codes.trust import KeyFormat, TrustStore, load_trust_list
from gateway.core.values import CodeCheck, CodeStatus
from tests.codes.dcc_issuer import DccSigner
from tests.codes.issuer import NOW
from tests.codes.shc_issuer import ShcIssuer


def _create(path: Path, alg: Algorithm = Algorithm.EDDSA) -> KeyDirectory:
    return KeyDirectory.create(path, issuer="xiaojiang", site="xiaojiang", alg=alg, now=NOW)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pass(keys: KeyDirectory) -> bytes:
    signing = keys.signing_key()
    return issue_pass(
        signing_key=signing.private_key,
        kid=signing.kid,
        issuer=signing.issuer,
        subject="s",
        label="张*华",
        unit="1-1-101",
        colour=CodeStatus.GREEN,
        issued_at=NOW,
        expires_at=NOW + timedelta(days=1),
    ).encode()


def _check(keys: KeyDirectory, payload: bytes) -> CodeCheck:
    store = TrustStore(load_trust_list(keys.trust_list_path))
    return CommunityPassFormat(store).verify(payload, NOW).check


def test_kid_is_first_8_bytes_of_sha256_of_the_public_key_der() -> None:
    public = generate_private_key(Algorithm.ES256).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_id(public) == base64.b64encode(hashlib.sha256(der).digest()[:8]).decode()


@pytest.mark.parametrize("alg", [Algorithm.EDDSA, Algorithm.ES256])
def test_create_writes_key_secret_and_trust_list(tmp_path: Path, alg: Algorithm) -> None:
    keys = _create(tmp_path / "keys", alg)
    kid = keys.keyring.active
    pem = tmp_path / "keys" / f"{base64.b64decode(kid).hex()}.pem"
    assert _mode(tmp_path / "keys") == 0o700
    assert _mode(pem) == 0o600
    assert _mode(keys.secret_path) == 0o600
    assert len(read_secret(keys.secret_path)) == 64
    trust = load_trust_list(keys.trust_list_path)
    assert (trust.version, trust.site, list(trust.keys)) == (1, "xiaojiang", [kid])
    assert trust.keys[kid].alg is alg
    assert trust.keys[kid].issuer == "xiaojiang"
    assert _check(keys, _pass(keys)) is CodeCheck.VALID


def test_create_refuses_an_existing_key_directory(tmp_path: Path) -> None:
    _create(tmp_path)
    with pytest.raises(KeyDirectoryError, match="already holds keys"):
        _create(tmp_path)


def test_rotate_keeps_old_keys_trusted_and_revoke_removes_them(tmp_path: Path) -> None:
    keys = _create(tmp_path)
    old_kid = keys.keyring.active
    old_pass = _pass(keys)
    new_kid = keys.rotate(alg=Algorithm.ES256, now=NOW)
    assert new_kid != old_kid
    trust = load_trust_list(keys.trust_list_path)
    assert trust.version == 2
    assert set(trust.keys) == {old_kid, new_kid}
    assert keys.signing_key().kid == new_kid
    assert _check(keys, old_pass) is CodeCheck.VALID
    assert _check(keys, _pass(keys)) is CodeCheck.VALID

    keys.revoke(old_kid, now=NOW)
    trust = load_trust_list(keys.trust_list_path)
    assert trust.version == 3
    assert set(trust.keys) == {new_kid}
    assert _check(keys, old_pass) is CodeCheck.UNKNOWN_ISSUER
    assert not (tmp_path / f"{base64.b64decode(old_kid).hex()}.pem").exists()


def test_changes_survive_reopening(tmp_path: Path) -> None:
    keys = _create(tmp_path)
    new_kid = keys.rotate(alg=Algorithm.EDDSA, now=NOW)
    reopened = KeyDirectory.open(tmp_path)
    assert reopened.keyring == keys.keyring
    assert reopened.signing_key().kid == new_kid
    assert reopened.publish(now=NOW + timedelta(hours=1)).version == 3
    assert load_trust_list(reopened.trust_list_path).issued_at == NOW + timedelta(hours=1)


def test_revoking_the_active_or_an_unknown_key_is_refused(tmp_path: Path) -> None:
    keys = _create(tmp_path)
    with pytest.raises(KeyDirectoryError, match="active signing key"):
        keys.revoke(keys.keyring.active, now=NOW)
    with pytest.raises(KeyDirectoryError, match="no key"):
        keys.revoke("AAAAAAAAAAA=", now=NOW)
    assert load_trust_list(keys.trust_list_path).version == 1


def test_open_reports_missing_or_damaged_directories(tmp_path: Path) -> None:
    with pytest.raises(KeyDirectoryError, match="not a key directory"):
        KeyDirectory.open(tmp_path)
    keys = _create(tmp_path)
    keyring = tmp_path / "keyring.json"
    document = json.loads(keyring.read_text())
    keyring.write_text(json.dumps({**document, "active": "AAAAAAAAAAA="}))
    with pytest.raises(KeyDirectoryError, match="malformed"):
        KeyDirectory.open(tmp_path)
    keyring.write_text("{")
    with pytest.raises(KeyDirectoryError, match="not valid JSON"):
        KeyDirectory.open(tmp_path)
    keyring.write_text(json.dumps(document))
    pem = tmp_path / f"{base64.b64decode(keys.keyring.active).hex()}.pem"
    pem.write_bytes(
        generate_private_key(Algorithm.EDDSA).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyDirectoryError, match="different key"):
        KeyDirectory.open(tmp_path).signing_key()


def test_short_secret_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("short\n")
    with pytest.raises(KeyDirectoryError, match="at least 16 bytes"):
        read_secret(secret)
    with pytest.raises(KeyDirectoryError, match="cannot read"):
        read_secret(tmp_path / "absent")


def test_imported_keys_join_the_trust_list_and_survive_changes(tmp_path: Path) -> None:
    keys = _create(tmp_path)
    signer, card_issuer = DccSigner.generate(), ShcIssuer()
    imported = [signer.trusted_key(), card_issuer.trusted_key(revoked=["abc"])]
    trust = keys.import_keys(imported, now=NOW)
    assert trust.version == 2
    assert set(trust.keys) == {keys.keyring.active, signer.kid, card_issuer.kid}
    assert _mode(tmp_path / "imported.json") == 0o644

    keys.rotate(alg=Algorithm.ES256, now=NOW)
    reopened = KeyDirectory.open(tmp_path)
    assert set(reopened.imported) == {signer.kid, card_issuer.kid}
    on_disk = load_trust_list(reopened.trust_list_path)
    assert on_disk.version == 3
    assert on_disk.keys[signer.kid].format is KeyFormat.DCC
    assert on_disk.keys[card_issuer.kid].revocations == imported[1].revocations
    store = TrustStore(on_disk)
    assert DccFormat(store).verify(signer.issue().encode(), NOW).check is CodeCheck.VALID

    reopened.revoke(signer.kid, now=NOW)
    assert set(load_trust_list(keys.trust_list_path).keys) == {
        *reopened.keyring.kids,
        card_issuer.kid,
    }
    assert set(KeyDirectory.open(tmp_path).imported) == {card_issuer.kid}


def test_importing_again_replaces_a_key(tmp_path: Path) -> None:
    keys = _create(tmp_path)
    card_issuer = ShcIssuer()
    keys.import_keys([card_issuer.trusted_key(revoked=["a"])], now=NOW)
    keys.import_keys([card_issuer.trusted_key(revoked=["a", "b"])], now=NOW)
    revocations = load_trust_list(keys.trust_list_path).keys[card_issuer.kid].revocations
    assert revocations is not None and set(revocations.rids) == {"a", "b"}


def test_import_refusals(tmp_path: Path) -> None:
    keys = _create(tmp_path)
    own = load_trust_list(keys.trust_list_path).keys[keys.keyring.active]
    with pytest.raises(KeyDirectoryError, match="own keys"):
        keys.import_keys([own], now=NOW)
    with pytest.raises(KeyDirectoryError, match="names no issuer"):
        keys.import_keys([ShcIssuer().trusted_key(issuer="")], now=NOW)
    assert load_trust_list(keys.trust_list_path).version == 1
    (tmp_path / "imported.json").write_text("{broken")
    with pytest.raises(KeyDirectoryError, match="not valid JSON"):
        KeyDirectory.open(tmp_path)
