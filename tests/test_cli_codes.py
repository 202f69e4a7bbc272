from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import cv2
import numpy as np
import pytest
import segno
import typer
from typer.testing import CliRunner, Result

from gateway.cli.codes import parse_instant, register
from gateway.codes import cose
from gateway.codes.community_pass import PREFIX
from gateway.codes.health import Statement
from gateway.codes.pseudonym import person_pseudonym, pseudonym
from gateway.codes.trust import KeyFormat, load_trust_list
from tests.codes.dcc_issuer import DccSigner
from tests.codes.issuer import NOW
from tests.codes.shc_issuer import ISS, ShcIssuer, chunks, qr

SUBJECT_ID = "11010119900307777X"
NAME = "张小华"


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # These commands must work without a config file; make sure none is picked up.
    monkeypatch.setenv("CHECKPOINT_CONFIG", str(tmp_path / "no-such-config.toml"))


def _invoke(*args: str | Path) -> Result:
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, [str(arg) for arg in args])


def _keys(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    result = _invoke("keys", "create", "--dir", directory, "--issuer", "xiaojiang", "--site", "xj")
    assert result.exit_code == 0, result.output
    return directory


def _issue(directory: Path, *extra: str | Path) -> str:
    result = _invoke(
        "issue-pass",
        "--dir",
        directory,
        "--subject-id",
        SUBJECT_ID,
        "--name",
        NAME,
        "--unit",
        "3-2-501",
        "--colour",
        "green",
        "--days",
        "30",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def issued(tmp_path: Path) -> tuple[Path, str]:
    directory = _keys(tmp_path)
    return directory, _issue(directory)


def _check_json(*args: str | Path) -> tuple[int, dict[str, object]]:
    result = _invoke("check", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_check_valid_pass_as_json(issued: tuple[Path, str]) -> None:
    directory, text = issued
    code, document = _check_json("--text", text, "--trust", directory / "trust.json")
    assert code == 0
    assert document["format"] == "cp1"
    assert document["check"] == "valid"
    assert document["valid"] is True
    assert document["reasons"] == []
    assert document["label"] == "张*华 3-2-501"
    assert document["colour"] == "green"
    assert document["issuer"] == "xiaojiang"
    assert document["subject"] == pseudonym(
        (directory / "site.secret").read_bytes().strip(), SUBJECT_ID
    )
    assert [document["kid"]] == list(load_trust_list(directory / "trust.json").keys)
    issued_at = datetime.fromisoformat(str(document["issued_at"]))
    expires_at = datetime.fromisoformat(str(document["expires_at"]))
    assert (expires_at - issued_at).days == 30
    checked_at = datetime.fromisoformat(str(document["checked_at"]))
    assert issued_at <= checked_at < expires_at


def test_check_human_readable(issued: tuple[Path, str]) -> None:
    directory, text = issued
    result = _invoke("check", "--text", text, "--trust", directory / "trust.json")
    assert result.exit_code == 0
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["format"] == "cp1"
    assert lines["check"] == "valid"
    assert lines["label"] == "张*华 3-2-501"
    assert lines["colour"] == "green"
    assert lines["reasons"] == "-"


def test_check_fails_with_exit_1(issued: tuple[Path, str], tmp_path: Path) -> None:
    directory, text = issued
    trust = directory / "trust.json"
    code, document = _check_json("--text", text)  # no trust list at all
    assert (code, document["check"]) == (1, "unknown-issuer")
    assert document["reasons"] and "not in trust list" in str(document["reasons"])
    code, document = _check_json("--text", text, "--trust", trust, "--at", "2099-01-01T00:00:00Z")
    assert (code, document["check"]) == (1, "expired")
    code, document = _check_json("--text", "CP1:NOT BASE45!", "--trust", trust)
    assert (code, document["check"]) == (1, "unreadable")
    assert str(document["reasons"]).startswith("['base45:")
    code, document = _check_json("--text", "https://health.example/c/123", "--trust", trust)
    assert (code, document["format"], document["check"]) == (1, "other", "unverifiable")


def test_check_uses_the_trust_list_of_the_config_file(
    issued: tuple[Path, str], tmp_path: Path
) -> None:
    directory, text = issued
    config = tmp_path / "gateway.toml"
    config.write_text(f'[storage]\ntrust_list = "{directory / "trust.json"}"\n', encoding="utf-8")
    code, document = _check_json("--text", text, "--config", config)
    assert (code, document["check"]) == (0, "valid")


def test_check_image_written_by_issue_pass(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    png = tmp_path / "pass.png"
    text = _issue(directory, "--png", png)
    code, document = _check_json("--image", png, "--trust", directory / "trust.json")
    assert (code, document["check"]) == (0, "valid")
    assert document["label"] == "张*华 3-2-501"
    assert text.startswith("CP1:")


def test_check_image_without_a_code(tmp_path: Path) -> None:
    png = tmp_path / "blank.png"
    cv2.imwrite(str(png), np.full((50, 50), 255, dtype=np.uint8))
    code, document = _check_json("--image", png)
    assert (code, document["check"]) == (1, "no-code")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--text", "CP1:X", "--image", "x.png"],
        ["--text", "CP1:X", "--trust", "/nonexistent/trust.json"],
        ["--text", "CP1:X", "--at", "yesterday"],
        ["--text", "CP1:X", "--at", "2025-13-01T00:00:00Z"],
        ["--text", "CP1:X", "--at", "2025-03-01T00:00:00+2500"],
        ["--image", "/nonexistent/code.png"],
        ["--text", "CP1:X", "--config", "/nonexistent/gateway.toml"],
    ],
    ids=[
        "neither",
        "both",
        "missing-trust",
        "bad-at",
        "bad-month",
        "bad-offset",
        "missing-image",
        "missing-config",
    ],
)
def test_check_bad_usage_exits_2(args: list[str]) -> None:
    result = _invoke("check", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("checkpoint: ")


def test_check_corrupt_trust_file_or_image_exits_2(tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text("{broken", encoding="utf-8")
    result = _invoke("check", "--text", "CP1:X", "--trust", trust)
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    image = tmp_path / "code.png"
    image.write_bytes(b"no image")
    result = _invoke("check", "--image", image)
    assert result.exit_code == 2
    assert "not an image" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "2030-01-01T08:00:00Z",
        "2030-01-01T16:00:00+0800",
        "2030-01-01T16:00:00+08:00",
        "2030-01-01T16:00:00+08",
        "2030-01-01T03:00:00-05:00",
        "2030-01-01T08:00:00",
        "2030-01-01 08:00:00",
        "2030-01-01T08:00Z",
    ],
)
def test_parse_instant_zones(text: str) -> None:
    assert parse_instant(text) == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)


def test_parse_instant_fractions() -> None:
    assert parse_instant("2030-01-01T08:00:00.5Z").microsecond == 500000
    assert parse_instant("2030-01-01T08:00:00.123456789Z").microsecond == 123456
    assert parse_instant("2030-01-01T08:00:00,25+02:00").microsecond == 250000
    for bad in ("2030-01-01T08:00:00.1234567890Z", "2030-01-01", "08:00", "2030-01-01T08:00:00+8"):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_instant(bad)


@pytest.mark.parametrize(
    "at",
    [
        "2030-01-01T08:00:00Z",
        "2030-01-01T16:00:00+0800",
        "2030-01-01T16:00:00.000000001+08:00",
        "2030-01-01T08:00:00",
    ],
)
def test_check_at_sets_the_verification_time(issued: tuple[Path, str], at: str) -> None:
    directory, text = issued
    code, document = _check_json("--text", text, "--trust", directory / "trust.json", "--at", at)
    assert document["checked_at"] == "2030-01-01T08:00:00+00:00"
    assert (code, document["check"]) == (1, "expired")


def test_check_at_before_issue_is_not_yet_valid(issued: tuple[Path, str]) -> None:
    directory, text = issued
    code, document = _check_json(
        "--text", text, "--trust", directory / "trust.json", "--at", "2020-01-01T00:00:00Z"
    )
    assert (code, document["check"]) == (1, "not-yet-valid")


def test_keys_create_rotate_revoke_change_the_trust_list(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    trust_file = directory / "trust.json"
    first = load_trust_list(trust_file)
    assert first.version == 1 and first.site == "xj"
    (old_kid,) = first.keys
    old_pass = _issue(directory)

    result = _invoke("keys", "rotate", "--dir", directory, "--alg", "ES256")
    assert result.exit_code == 0, result.output
    second = load_trust_list(trust_file)
    assert second.version == 2
    (new_kid,) = set(second.keys) - {old_kid}
    assert new_kid in result.stdout
    assert _check_json("--text", old_pass, "--trust", trust_file)[1]["check"] == "valid"
    new_pass = _issue(directory)
    assert _check_json("--text", new_pass, "--trust", trust_file)[1]["kid"] == new_kid

    result = _invoke("keys", "revoke", "--dir", directory, "--kid", old_kid)
    assert result.exit_code == 0, result.output
    third = load_trust_list(trust_file)
    assert (third.version, set(third.keys)) == (3, {new_kid})
    assert _check_json("--text", old_pass, "--trust", trust_file)[1]["check"] == "unknown-issuer"
    assert _check_json("--text", new_pass, "--trust", trust_file)[0] == 0


def test_keys_refusals(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    (active,) = load_trust_list(directory / "trust.json").keys
    again = _invoke("keys", "create", "--dir", directory, "--issuer", "x", "--site", "xj")
    assert again.exit_code == 1 and "already holds keys" in again.stderr
    revoke_active = _invoke("keys", "revoke", "--dir", directory, "--kid", active)
    assert revoke_active.exit_code == 1 and "rotate" in revoke_active.stderr
    no_site = _invoke("keys", "create", "--dir", tmp_path / "other", "--issuer", "x")
    assert no_site.exit_code == 2 and "--site" in no_site.stderr
    no_dir = _invoke("keys", "rotate", "--dir", tmp_path / "absent")
    assert no_dir.exit_code == 2 and "not a key directory" in no_dir.stderr
    assert load_trust_list(directory / "trust.json").version == 1


def test_keys_create_takes_the_site_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[gate]\nsite = "xiaojiang"\n', encoding="utf-8")
    directory = tmp_path / "keys"
    result = _invoke("keys", "create", "--dir", directory, "--issuer", "x", "--config", config)
    assert result.exit_code == 0, result.output
    assert load_trust_list(directory / "trust.json").site == "xiaojiang"


def test_keys_trust_list_writes_the_next_version(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    out = tmp_path / "published" / "trust.json"
    result = _invoke("keys", "trust-list", "--dir", directory, "--out", out)
    assert result.exit_code == 0, result.output
    assert load_trust_list(out).version == 2
    assert load_trust_list(directory / "trust.json").version == 2
    assert load_trust_list(out).keys.keys() == load_trust_list(directory / "trust.json").keys.keys()


def test_issue_pass_never_writes_the_id_or_the_name(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    png, text_file = tmp_path / "pass.png", tmp_path / "pass.txt"
    result = _invoke(
        "issue-pass",
        "--dir",
        directory,
        "--subject-id",
        SUBJECT_ID,
        "--name",
        NAME,
        "--unit",
        "3-2-501",
        "--colour",
        "yellow",
        "--days",
        "7",
        "--png",
        png,
        "--text-out",
        text_file,
    )
    assert result.exit_code == 0, result.output
    text = result.stdout.strip()
    assert text_file.read_text(encoding="ascii").strip() == text
    claims = cose.decode_payload(cose.decode_text(text.encode(), PREFIX).payload)
    assert claims["lbl"] == "张*华"
    assert claims["col"] == "yellow"
    everything = [result.stdout, result.stderr, *(repr(value) for value in claims.values())]
    everything += [
        path.read_bytes().decode("utf-8", "replace")
        for path in tmp_path.rglob("*")
        if path.is_file()
    ]
    for secret in (SUBJECT_ID, NAME, SUBJECT_ID.lower()):
        assert not any(secret in blob for blob in everything)
    assert cbor2.loads(cose.decode_text(text.encode(), PREFIX).payload)["sub"] == pseudonym(
        (directory / "site.secret").read_bytes().strip(), SUBJECT_ID
    )


def test_issue_pass_with_a_secret_file(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    secret = tmp_path / "site.secret"
    secret.write_text("a shared site secret of the community\n", encoding="utf-8")
    text = _issue(directory, "--secret-file", secret)
    code, document = _check_json("--text", text, "--trust", directory / "trust.json")
    assert code == 0
    assert document["subject"] == pseudonym(b"a shared site secret of the community", SUBJECT_ID)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--colour", "purple"], "purple"),
        (["--days", "0"], "--days"),
        (["--secret-file", "/nonexistent/secret"], "cannot read the site secret"),
        (["--unit", "x" * 80], "unit must have"),
        (["--name", "   "], "--name is empty"),
        (["--subject-id", " "], "subject id is empty"),
    ],
)
def test_issue_pass_bad_usage_exits_2(tmp_path: Path, extra: list[str], problem: str) -> None:
    directory = _keys(tmp_path)
    options = {
        "--subject-id": SUBJECT_ID,
        "--name": NAME,
        "--unit": "3-2-501",
        "--colour": "green",
        "--days": "30",
    }
    options.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    args = [item for pair in options.items() for item in pair]
    result = _invoke("issue-pass", "--dir", directory, *args)
    assert result.exit_code == 2
    assert problem in result.stderr
    assert result.stdout == ""


def test_keys_create_where_nothing_can_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    result = _invoke("keys", "create", "--dir", blocker / "keys", "--issuer", "x", "--site", "xj")
    assert result.exit_code == 1
    assert result.stderr.startswith("checkpoint: ")
    assert result.exception is None or isinstance(result.exception, SystemExit)


SITE_SECRET = "a shared site secret of the community"


def test_check_a_dcc_against_its_signer_certificate(tmp_path: Path) -> None:
    signer = DccSigner.generate()
    certificate = tmp_path / "signer.pem"
    certificate.write_bytes(signer.pem)
    secret = tmp_path / "site.secret"
    secret.write_text(SITE_SECRET + "\n", encoding="utf-8")
    text = signer.issue(Statement.TEST)
    code, document = _check_json(
        "--text", text, "--trust", certificate, "--at", NOW.isoformat(), "--secret-file", secret
    )
    assert code == 0, document
    assert document["format"] == "dcc"
    assert document["colour"] == "green"
    assert document["label"] == "G******* M******************"
    assert document["subject"] == person_pseudonym(
        SITE_SECRET.encode(),
        family="MUSTERFRAU<GOESSINGER",
        given="GABRIELE",
        birth_date="1998-02-26",
    )
    assert (document["issuer"], document["kid"]) == ("AT", signer.kid)
    code, document = _check_json("--text", text, "--trust", certificate, "--at", NOW.isoformat())
    assert (code, document["subject"]) == (0, None)  # no site secret, no pseudonym
    later = (NOW + timedelta(days=400)).isoformat()
    code, document = _check_json("--text", text, "--trust", certificate, "--at", later)
    assert (code, document["check"]) == (1, "expired")


def _card_issuer_jwks(tmp_path: Path, card_issuer: ShcIssuer, revoked: list[str]) -> Path:
    jwks = tmp_path / "issuer" / ".well-known" / "jwks.json"
    (jwks.parent / "crl").mkdir(parents=True)
    jwks.write_text(json.dumps({"keys": [card_issuer.jwk(crlVersion=1)]}), encoding="utf-8")
    crl = {"kid": card_issuer.kid, "method": "rid", "ctr": 1, "rids": revoked}
    (jwks.parent / "crl" / f"{card_issuer.kid}.json").write_text(json.dumps(crl))
    return jwks


def test_check_health_card_chunks_given_one_after_another(tmp_path: Path) -> None:
    card_issuer = ShcIssuer()
    jwks = _card_issuer_jwks(tmp_path, card_issuer, ["gone"])
    parts = [part.decode() for part in chunks(card_issuer.jws(), 3)]
    at = ("--trust", jwks, "--at", NOW.isoformat())
    code, document = _check_json(*at, "--text", parts[0], "--text", parts[2], "--text", parts[1])
    assert (code, document["format"], document["check"]) == (0, "shc", "valid")
    code, document = _check_json(*at, "--text", parts[0])
    assert (code, document["reasons"]) == (1, ["chunk 1 of 3 read, waiting for 2, 3"])
    revoked = qr(card_issuer.jws(card_issuer.payload(rid="gone"))).decode()
    code, document = _check_json(*at, "--text", revoked)
    assert (code, document["check"]) == (1, "revoked")


def test_check_an_image_showing_all_chunks_of_a_card(tmp_path: Path) -> None:
    card_issuer = ShcIssuer()
    jwks = _card_issuer_jwks(tmp_path, card_issuer, [])
    tiles = []
    for part in chunks(card_issuer.jws(), 2):
        tile = tmp_path / "tile.png"
        segno.make(part.decode(), error="l", micro=False).save(str(tile), scale=4, border=4)
        tiles.append(cv2.imread(str(tile), cv2.IMREAD_GRAYSCALE))
    height = max(tile.shape[0] for tile in tiles)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, 0)), constant_values=255) for t in tiles]
    image = tmp_path / "card.png"
    cv2.imwrite(str(image), np.hstack(padded))
    result = _invoke("check", "--json", "--image", image, "--trust", jwks, "--at", NOW.isoformat())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["check"] == "valid"
    assert result.stderr == ""


def test_check_with_an_unusable_secret_file_exits_2(tmp_path: Path) -> None:
    short = tmp_path / "short.secret"
    short.write_text("short", encoding="utf-8")
    result = _invoke("check", "--text", "HC1:X", "--secret-file", short)
    assert result.exit_code == 2
    assert "--secret-file" in result.stderr and "at least 16 bytes" in result.stderr


def test_keys_import_a_signer_certificate_and_a_card_issuer(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    signer, card_issuer = DccSigner.generate(), ShcIssuer()
    certificate = tmp_path / "signer.crt"
    certificate.write_bytes(signer.pem)
    result = _invoke("keys", "import", "--dir", directory, certificate)
    assert result.exit_code == 0, result.output
    assert f"imported {signer.kid} (dcc, AT)" in result.stdout
    jwks = _card_issuer_jwks(tmp_path, card_issuer, ["gone.1700000000"])
    refused = _invoke("keys", "import", "--dir", directory, jwks)
    assert refused.exit_code == 2 and "--issuer" in refused.stderr
    result = _invoke("keys", "import", "--dir", directory, jwks, "--issuer", ISS)
    assert result.exit_code == 0, result.output

    trust_file = directory / "trust.json"
    trust = load_trust_list(trust_file)
    assert trust.version == 3
    assert trust.keys[signer.kid].format is KeyFormat.DCC
    card_key = trust.keys[card_issuer.kid]
    assert (card_key.format, card_key.issuer) == (KeyFormat.SHC, ISS)
    assert card_key.revocations is not None and card_key.revocations.rids == {"gone": 1700000000}
    card = qr(card_issuer.jws()).decode()
    at = ("--trust", trust_file, "--at", NOW.isoformat())
    assert _check_json("--text", card, *at)[1]["check"] == "valid"
    assert _check_json("--text", signer.issue(), *at)[1]["check"] == "valid"

    result = _invoke("keys", "revoke", "--dir", directory, "--kid", signer.kid)
    assert result.exit_code == 0, result.output
    assert _check_json("--text", signer.issue(), *at)[1]["check"] == "unknown-issuer"


def test_keys_import_refuses_what_is_no_key_file(tmp_path: Path) -> None:
    directory = _keys(tmp_path)
    junk = tmp_path / "junk.txt"
    junk.write_text("hello", encoding="utf-8")
    result = _invoke("keys", "import", "--dir", directory, junk)
    assert result.exit_code == 2
    assert "not a trust list, JWKS or certificate" in result.stderr
    assert load_trust_list(directory / "trust.json").version == 1
