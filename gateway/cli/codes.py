"""The code commands of `checkpoint`: `check`, `keys ...` and `issue-pass`.

`check` is for the gate technician: decode and verify one code without recording it.
`keys` and `issue-pass` are for the community side: signing keys, trust list, passes, and
the keys of other issuers (EU DCC signer certificates, SMART Health Card key sets).
Exit codes: 0 done (for `check`: the code is valid), 1 failed (not valid), 2 bad usage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import fail
from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.formats import code_formats
from gateway.codes.keys import KeyDirectory, KeyDirectoryError, read_secret
from gateway.codes.pseudonym import pseudonym
from gateway.codes.shc import PREFIX as SHC_PREFIX
from gateway.codes.trust import (
    TrustList,
    TrustListError,
    TrustStore,
    load_trust_list,
    save_trust_list,
)
from gateway.codes.trust_files import read_trust_file
from gateway.config import Settings, config_path, load_settings
from gateway.core.codes import CodeFormat, read_code
from gateway.core.errors import ConfigError
from gateway.core.masking import mask_name
from gateway.core.values import NO_CODE, CodeCheck, CodeStatus, Credential
from gateway.runtime import credentials

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="config file (optional here; default: $CHECKPOINT_CONFIG or "
        "/etc/checkpoint/gateway.toml if present)",
    ),
]
DirOption = Annotated[Path, typer.Option("--dir", help="key directory")]


class Colour(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class SigningAlgorithm(StrEnum):
    EDDSA = "EdDSA"
    ES256 = "ES256"


# What to say for a check that carries no detail of its own.
_REASONS = {
    CodeCheck.UNVERIFIABLE: "not a format that can be verified offline",
    CodeCheck.NO_CODE: "no code found",
}


def register(app: typer.Typer) -> None:
    """Add `check`, `keys` and `issue-pass` to the `checkpoint` app."""
    app.command("check")(check)
    app.command("issue-pass")(issue_pass_command)
    keys = typer.Typer(
        help="Community side: signing keys and the trust list.", no_args_is_help=True
    )
    keys.command("create")(keys_create)
    keys.command("rotate")(keys_rotate)
    keys.command("revoke")(keys_revoke)
    keys.command("trust-list")(keys_trust_list)
    keys.command("import")(keys_import)
    app.add_typer(keys, name="keys")


def _settings(config: Path | None) -> Settings | None:
    """The config when one is named or present: these commands also work without one.

    Commands that need nothing from it still read a named file, so a wrong `--config`
    is reported rather than silently ignored.
    """
    path = config_path(config)
    if config is None and not path.exists():
        return None
    try:
        return load_settings(path)
    except ConfigError as exc:
        fail(f"configuration error\n{exc}", 2)


_INSTANT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_instant(text: str) -> datetime:
    """ISO 8601 with 'Z', '+0200', '+02:00', '+02' or no zone (= UTC), up to 9 fraction
    digits (beyond microseconds they are dropped). Returns UTC; ValueError otherwise."""
    match = _INSTANT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2025-03-01T08:30:00+08:00)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    microsecond = int((fraction or "").ljust(6, "0")[:6])
    tz = UTC
    if zone not in (None, "Z"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(-offset if zone[0] == "-" else offset)  # ValueError beyond ±24 h
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        microsecond,
        tzinfo=tz,
    )
    return moment.astimezone(UTC)


def check(
    text: Annotated[
        list[str] | None,
        typer.Option(
            "--text",
            help="the code's text, e.g. CP1:..., HC1:..., shc:/...; repeat it for the "
            "chunks of a multi-part SMART Health Card (the last result is shown)",
        ),
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="an image file showing the code")
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="a trust list, a DCC signer certificate (PEM, DER or base64) or an SHC "
            "issuer's JWKS, with its revocation lists in crl/<kid>.json beside it "
            "(default: the config's local trust list)",
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="verify as of this ISO 8601 time (default: now)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file", help="site secret, to show the pseudonym of a health code's holder"
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Decode and verify one code without recording it (exit 0 only for a valid code)."""
    if bool(text) == (image is not None):
        fail("give exactly one of --text and --image", 2)
    try:
        now = datetime.now(UTC) if at is None else parse_instant(at)
    except ValueError as exc:
        fail(f"--at: {exc}", 2)
    trust_list = _trust_list(trust, _settings(config))
    secret = _secret(secret_file)
    formats = code_formats(TrustStore(trust_list), secret=secret)
    payloads = _image_payloads(image) if image is not None else [t.encode() for t in text or ()]
    credential = _read_all(payloads, formats, now)
    if as_json:
        typer.echo(json.dumps(_credential_document(credential, now), ensure_ascii=False))
    else:
        for name, value in _credential_document(credential, now).items():
            shown = ", ".join(value) if isinstance(value, list) else value
            typer.echo(f"{name:<11} {'-' if shown in (None, '') else shown}")
    raise typer.Exit(0 if credential.verified else 1)


def code_reader(
    settings: Settings | None, *, trust: Path | None = None, secret_file: Path | None = None
) -> Callable[[str], str | None]:
    """A code's text -> the pseudonym the gates store for its holder (None: it names nobody),
    read as the gates read it: the config's trust list and site secret unless given."""
    if secret_file is None and settings is not None:
        secret_file = credentials.site_secret_file(settings.codes.site_secret_file)
    formats = code_formats(TrustStore(_trust_list(trust, settings)), secret=_secret(secret_file))
    return lambda text: read_code(text.strip().encode(), formats, datetime.now(UTC)).subject


def code_holder(
    text: str, *, trust: Path | None, secret_file: Path | None, config: Path | None
) -> str:
    """The pseudonym for the holder of a code's text (see `code_reader`); kept nowhere."""
    subject = code_reader(_settings(config), trust=trust, secret_file=secret_file)(text)
    if subject is None:
        fail("this code names no person the gates would know", 2)
    return subject


def _trust_list(path: Path | None, settings: Settings | None) -> TrustList:
    try:
        if path is not None:
            if not path.is_file():
                fail(f"--trust: {path}: no such file", 2)
            return read_trust_file(path)
        if settings is None:
            return TrustList()
        return load_trust_list(settings.storage.trust_list_path())
    except TrustListError as exc:
        fail(str(exc), 2)


def _secret(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return read_secret(path)
    except KeyDirectoryError as exc:
        fail(f"--secret-file: {exc}", 2)


def _image_payloads(path: Path) -> list[bytes]:
    from devices.qr_decode import ImageError, decode_image  # OpenCV only when an image is read

    try:
        payloads = decode_image(path)
    except ImageError as exc:
        fail(str(exc), 2)
    # The chunks of one SMART Health Card are often shown side by side: read them all.
    if len(payloads) > 1 and not all(p.startswith(SHC_PREFIX) for p in payloads):
        typer.echo(f"checkpoint: {len(payloads)} codes in the image; checking the first", err=True)
        return payloads[:1]
    return payloads


def _read_all(payloads: list[bytes], formats: list[CodeFormat], now: datetime) -> Credential:
    """The credential of the last payload, read after the others (chunks of one card)."""
    credential = NO_CODE
    for payload in payloads:
        credential = read_code(payload, formats, now)
    return credential


def _credential_document(credential: Credential, now: datetime) -> dict[str, object]:
    reason = credential.detail or _REASONS.get(credential.check, credential.check.value)
    return {
        "format": credential.format,
        "check": credential.check.value,
        "valid": credential.verified,
        "reasons": [] if credential.verified else [reason],
        "subject": credential.subject,
        "label": credential.label,
        "colour": credential.status.value,
        "issuer": credential.issuer,
        "kid": credential.kid,
        "issued_at": _time(credential.issued_at),
        "expires_at": _time(credential.expires_at),
        "checked_at": _time(now),
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _open_keys(path: Path) -> KeyDirectory:
    try:
        return KeyDirectory.open(path)
    except KeyDirectoryError as exc:
        fail(str(exc), 2)


def keys_create(
    directory: DirOption,
    issuer: Annotated[str, typer.Option(help="the issuer named in passes, e.g. the community")],
    site: Annotated[
        str | None, typer.Option(help="site of the trust list (default: config)")
    ] = None,
    alg: Annotated[SigningAlgorithm, typer.Option(help="signature algorithm")] = (
        SigningAlgorithm.EDDSA
    ),
    config: ConfigOption = None,
) -> None:
    """Create a key directory: a signing key, a site secret and trust list version 1."""
    settings = _settings(config)
    site = site or (settings.gate.site if settings is not None else None)
    if not site:
        fail("give --site (or a config file with [gate] site)", 2)
    try:
        keys = KeyDirectory.create(
            directory,
            issuer=issuer,
            site=site,
            alg=Algorithm.from_label(alg.value),
            now=datetime.now(UTC),
        )
    except (KeyDirectoryError, OSError) as exc:  # OSError: e.g. a read-only or full disk
        fail(str(exc), 1)
    keyring = keys.keyring
    typer.echo(f"created {directory}: signing key {keyring.active} ({alg.value})")
    typer.echo(f"trust list version {keyring.version} written to {keys.trust_list_path}")


def keys_rotate(
    directory: DirOption,
    alg: Annotated[SigningAlgorithm, typer.Option(help="signature algorithm")] = (
        SigningAlgorithm.EDDSA
    ),
    config: ConfigOption = None,
) -> None:
    """Sign new passes with a new key; old keys stay trusted until revoked."""
    _settings(config)
    keys = _open_keys(directory)
    try:
        kid = keys.rotate(alg=Algorithm.from_label(alg.value), now=datetime.now(UTC))
    except (KeyDirectoryError, OSError) as exc:  # OSError: e.g. a read-only or full disk
        fail(str(exc), 1)
    _report(keys, f"new signing key {kid} ({alg.value})")


def keys_revoke(
    directory: DirOption,
    kid: Annotated[str, typer.Option("--kid", help="the key to remove from the trust list")],
    config: ConfigOption = None,
) -> None:
    """Remove a key from the trust list: passes it signed stop being valid."""
    _settings(config)
    keys = _open_keys(directory)
    try:
        keys.revoke(kid, now=datetime.now(UTC))
    except (KeyDirectoryError, OSError) as exc:  # OSError: e.g. a read-only or full disk
        fail(str(exc), 1)
    _report(keys, f"revoked {kid}")


def keys_trust_list(
    directory: DirOption,
    out: Annotated[Path | None, typer.Option(help="also write the trust list here")] = None,
    config: ConfigOption = None,
) -> None:
    """Write the trust list again with the next version (and to --out)."""
    _settings(config)
    keys = _open_keys(directory)
    try:
        trust_list = keys.publish(now=datetime.now(UTC))
    except (KeyDirectoryError, OSError) as exc:  # OSError: e.g. a read-only or full disk
        fail(str(exc), 1)
    if out is not None:
        try:
            save_trust_list(trust_list, out)
        except OSError as exc:
            fail(f"{out}: cannot write the trust list: {exc.strerror}", 1)
        typer.echo(f"trust list version {trust_list.version} written to {out}")
    _report(keys, f"trust list version {trust_list.version}")


def keys_import(
    directory: DirOption,
    source: Annotated[
        Path,
        typer.Argument(
            help="DCC signer certificate(s) (PEM, DER or base64 DER), an SHC issuer's JWKS "
            "(revocation lists from crl/<kid>.json beside it) or a trust list",
            exists=True,
            dir_okay=False,
        ),
    ],
    issuer: Annotated[
        str,
        typer.Option(
            help="who the keys speak for: for a JWKS the cards' iss URL (required); "
            "for certificates default: their country"
        ),
    ] = "",
    config: ConfigOption = None,
) -> None:
    """Trust another issuer's keys: EU DCC signers or a SMART Health Card issuer."""
    _settings(config)
    keys = _open_keys(directory)
    try:
        imported = list(read_trust_file(source, issuer=issuer).keys.values())
    except TrustListError as exc:
        fail(str(exc), 2)
    unbound = [key.kid for key in imported if not key.issuer]
    if unbound:
        fail(f"--issuer: needed for {', '.join(unbound)} (for a JWKS: the cards' iss URL)", 2)
    try:
        keys.import_keys(imported, now=datetime.now(UTC))
    except KeyDirectoryError as exc:
        fail(str(exc), 2)
    except OSError as exc:  # e.g. a read-only or full disk
        fail(f"cannot write the key directory: {exc.strerror}", 1)
    kinds = ", ".join(f"{key.kid} ({key.format.value}, {key.issuer})" for key in imported)
    _report(keys, f"imported {kinds}")


def _report(keys: KeyDirectory, what: str) -> None:
    keyring = keys.keyring
    typer.echo(f"{what}; trust list version {keyring.version} in {keys.trust_list_path}")
    typer.echo(f"trusted keys: {', '.join(keyring.kids)} (signing: {keyring.active})")
    if keys.imported:
        typer.echo(f"imported keys: {', '.join(keys.imported)}")


def issue_pass_command(
    directory: DirOption,
    subject_id: Annotated[
        str, typer.Option("--subject-id", help="ID number; only its pseudonym is kept")
    ],
    name: Annotated[str, typer.Option("--name", help="full name; only its masked form is kept")],
    unit: Annotated[str, typer.Option("--unit", help="building-entrance-room, e.g. 3-2-501")],
    colour: Annotated[Colour, typer.Option("--colour", help="status colour")],
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="valid for this long")],
    secret_file: Annotated[
        Path | None,
        typer.Option("--secret-file", help="site secret for pseudonyms (default: in --dir)"),
    ] = None,
    png: Annotated[Path | None, typer.Option("--png", help="write the QR code as PNG")] = None,
    text_out: Annotated[Path | None, typer.Option("--text-out", help="write the text")] = None,
    config: ConfigOption = None,
) -> None:
    """Issue a signed community pass and print its CP1: text."""
    _settings(config)
    keys = _open_keys(directory)
    try:
        secret = read_secret(secret_file or keys.secret_path)
        signing = keys.signing_key()
    except KeyDirectoryError as exc:
        fail(str(exc), 2)
    if not name.strip():
        fail("--name is empty", 2)
    now = datetime.now(UTC)
    try:
        text = issue_pass(
            signing_key=signing.private_key,
            kid=signing.kid,
            issuer=signing.issuer,
            subject=pseudonym(secret, subject_id),
            label=mask_name(name),
            unit=unit.strip(),
            colour=CodeStatus(colour.value),
            issued_at=now,
            expires_at=now + timedelta(days=days),
        )
    except ValueError as exc:
        fail(f"cannot issue this pass: {exc}", 2)
    try:
        if png is not None:
            import segno  # only this command draws codes

            segno.make(text, error="m", micro=False).save(str(png), kind="png", scale=8, border=4)
        if text_out is not None:
            text_out.write_text(text + "\n", encoding="ascii")
    except OSError as exc:
        fail(f"{exc.filename}: cannot write: {exc.strerror}", 1)
    typer.echo(text)
