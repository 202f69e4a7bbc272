from __future__ import annotations

import base64
import functools
import json
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.codes.cose import Algorithm
from gateway.codes.trust import (
    KeyFormat,
    TrustedKey,
    TrustList,
    TrustListError,
    TrustStore,
    load_trust_list,
    parse_trust_list,
    save_trust_list,
    trust_list_json,
)
from tests.codes.dcc_issuer import DccSigner
from tests.codes.issuer import NOW, Issuer
from tests.codes.shc_issuer import ShcIssuer


def _two_key_list(version: int = 3) -> TrustList:
    ed = Issuer.generate(Algorithm.EDDSA).trusted_key()
    es = Issuer.generate(Algorithm.ES256).trusted_key(not_after=NOW + timedelta(days=365))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    ps = TrustedKey(
        kid="cHMyNTZrZXk=", issuer="dcc-signer", alg=Algorithm.PS256, public_key=rsa_key
    )
    return TrustList(
        version=version,
        issued_at=NOW,
        site="xiaojiang",
        keys={key.kid: key for key in (ed, es, ps)},
    )


def _public_numbers(key: TrustedKey) -> object:
    public = key.public_key
    if isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return public.public_numbers()
    return public.public_bytes_raw()


def test_save_then_load_round_trip(tmp_path: Path) -> None:
    original = _two_key_list()
    path = tmp_path / "trust.json"
    save_trust_list(original, path)
    loaded = load_trust_list(path)
    assert (loaded.version, loaded.issued_at, loaded.site) == (3, NOW, "xiaojiang")
    assert loaded.keys.keys() == original.keys.keys()
    for kid, key in original.keys.items():
        again = loaded.keys[kid]
        assert (again.issuer, again.alg, again.not_after) == (key.issuer, key.alg, key.not_after)
        assert _public_numbers(again) == _public_numbers(key)
    assert trust_list_json(loaded) == path.read_text(encoding="utf-8")


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "lists" / "trust.json"
    save_trust_list(_two_key_list(1), path)
    save_trust_list(_two_key_list(2), path)
    assert [p.name for p in path.parent.iterdir()] == ["trust.json"]
    assert load_trust_list(path).version == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_missing_file_is_the_empty_list(tmp_path: Path) -> None:
    empty = load_trust_list(tmp_path / "absent.json")
    assert empty.version == 0
    assert dict(empty.keys) == {}
    assert TrustStore.load(tmp_path / "absent.json").current.version == 0


@functools.cache
def _document_text() -> str:
    return trust_list_json(_two_key_list())


def _document() -> dict[str, object]:
    return json.loads(_document_text())


def _with(change: dict[str, object]) -> str:
    return json.dumps({**_document(), **change})


def _with_key(change: dict[str, object]) -> str:
    """The document with the EdDSA key's entry changed (the keys are sorted by random kids)."""
    document = _document()
    keys = document["keys"]
    assert isinstance(keys, list)
    index = next(i for i, key in enumerate(keys) if key["alg"] == "EdDSA")
    keys[index] = {**keys[index], **change}
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        (_with({"version": -1}), "version must be"),
        (_with({"version": "3"}), "version must be"),
        (_with({"version": True}), "version must be"),
        (_with({"schema": 3}), "schema 3"),
        (_with({"schema": True}), "schema True"),
        (_with({"keys": {}}), "keys must be a list"),
        (json.dumps({"version": 1}), "missing field 'keys'"),
        (_with({"issued_at": "yesterday"}), "issued_at is not an ISO 8601"),
        (_with_key({"alg": "HS256"}), "]: unsupported algorithm"),
        (_with_key({"alg": "ES256"}), "]: public_key is not an ES256 key"),
        (_with_key({"public_key": "%%%"}), "]: public_key is not base64"),
        (_with_key({"public_key": "AAAA"}), "]: public_key is not a public key we can read"),
        (_with_key({"kid": ""}), "]: kid must be a non-empty string"),
        (_with_key({"not_after": 5}), "]: not_after must be"),
        (_with_key({"format": "pdf417"}), "]: format 'pdf417' is not one of cp1, dcc, shc"),
        (_with_key({"format": "shc"}), "]: the kid of a health-card key is its P-256"),
        (_with_key({"certificate": "AAAA"}), "]: certificate: not an X.509 certificate"),
        (_with_key({"certificate": 7}), "]: certificate must be base64 text"),
        (_with_key({"crl": {"ctr": 1, "rids": ["a b"]}}), "]: crl: rid 'a b' is not base64url"),
        (_with_key({"crl": {"ctr": -1, "rids": []}}), "]: crl: ctr must be"),
        (_with_key({"crl": []}), "]: crl must be an object"),
    ],
)
def test_corrupt_file_is_a_clear_error(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "trust.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TrustListError) as caught:
        load_trust_list(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_duplicate_kid_is_an_error() -> None:
    document = _document()
    keys = document["keys"]
    assert isinstance(keys, list)
    keys.append(keys[0])
    with pytest.raises(TrustListError, match="appears twice"):
        parse_trust_list(json.dumps(document), source="mqtt")


def test_unknown_fields_are_ignored() -> None:
    parsed = parse_trust_list(_with({"comment": "from a newer server"}), source="mqtt")
    assert parsed.version == 3


def test_older_or_equal_version_never_replaces_newer() -> None:
    store = TrustStore(_two_key_list(version=5))
    current = store.current
    assert not store.replace_if_newer(_two_key_list(version=4))
    assert not store.replace_if_newer(_two_key_list(version=5))
    assert store.current is current
    newer = _two_key_list(version=6)
    assert store.replace_if_newer(newer)
    assert store.current is newer
    assert not store.replace_if_newer(current)
    assert store.current is newer


def test_lookup_follows_the_list_in_force() -> None:
    store = TrustStore()
    listed = _two_key_list(version=1)
    kid = next(iter(listed.keys))
    assert store.lookup(kid) is None
    store.replace_if_newer(listed)
    assert store.lookup(kid) is listed.keys[kid]
    assert store.lookup("nope") is None


def test_concurrent_replacements_keep_the_highest_version() -> None:
    store = TrustStore()
    lists = [TrustList(version=v) for v in range(1, 201)]

    def offer(part: list[TrustList]) -> None:
        for trust_list in part:
            store.replace_if_newer(trust_list)

    threads = [
        threading.Thread(target=offer, args=(lists[i::4][::-1],), name=f"offer-{i}")
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.current.version == 200


def test_hostile_nesting_is_a_clear_error() -> None:
    with pytest.raises(TrustListError, match="not valid JSON"):
        parse_trust_list("[" * 100_000, source="mqtt")


def _health_list() -> TrustList:
    signer, card_issuer = DccSigner.generate(), ShcIssuer()
    card_key = card_issuer.trusted_key(revoked=["vwAjHdarZuc.1687450765", "FKDIxsTCGlU"])
    keys = [Issuer.generate(Algorithm.EDDSA).trusted_key(), signer.trusted_key(), card_key]
    return TrustList(version=4, issued_at=NOW, site="xj", keys={key.kid: key for key in keys})


def test_health_code_keys_round_trip_as_schema_2(tmp_path: Path) -> None:
    original = _health_list()
    path = tmp_path / "trust.json"
    save_trust_list(original, path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema"] == 2
    assert sorted(entry["format"] for entry in document["keys"]) == ["cp1", "dcc", "shc"]
    loaded = load_trust_list(path)
    for kid, key in original.keys.items():
        again = loaded.keys[kid]
        assert (again.format, again.issuer, again.alg) == (key.format, key.issuer, key.alg)
        assert again.certificate == key.certificate
        assert again.revocations == key.revocations
    assert trust_list_json(loaded) == path.read_text(encoding="utf-8")


def test_a_list_of_pass_keys_stays_schema_1_for_older_gateways() -> None:
    document = json.loads(_document_text())
    assert document["schema"] == 1
    assert all("format" not in entry for entry in document["keys"])
    assert all("certificate" not in entry and "crl" not in entry for entry in document["keys"])


def test_a_schema_1_file_of_the_first_release_still_loads() -> None:
    key = Issuer.generate(Algorithm.EDDSA)
    der = key.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = json.dumps(
        {
            "schema": 1,
            "version": 3,
            "issued_at": "2025-03-01T08:00:00+00:00",
            "site": "xiaojiang",
            "keys": [
                {
                    "kid": key.kid,
                    "issuer": "xiaojiang",
                    "alg": "EdDSA",
                    "public_key": base64.b64encode(der).decode(),
                    "not_after": None,
                }
            ],
        }
    )
    loaded = parse_trust_list(text, source="file")
    assert loaded.keys[key.kid].format is KeyFormat.CP1
    assert TrustStore(loaded).lookup(key.kid) is not None


def test_lookup_gives_a_key_only_for_its_own_format() -> None:
    trust = _health_list()
    store = TrustStore(trust)
    for kid, key in trust.keys.items():
        for key_format in KeyFormat:
            found = store.lookup(kid, key_format)
            assert (found is key) == (key_format is key.format)
    assert store.lookup("absent", KeyFormat.DCC) is None


def test_a_certificate_must_hold_the_listed_key() -> None:
    document = json.loads(trust_list_json(_health_list()))
    entry = next(entry for entry in document["keys"] if entry["format"] == "dcc")
    entry["certificate"] = base64.b64encode(DccSigner.generate().certificate.der).decode()
    with pytest.raises(TrustListError, match="certificate holds another key"):
        parse_trust_list(json.dumps(document), source="mqtt")
