"""Files that name trusted keys: a trust list, signer certificates, or an issuer's JWKS.

`checkpoint check --trust FILE` and `checkpoint keys import` take any of them:

- a trust list (JSON with `version` and `keys`, see `gateway.codes.trust`);
- X.509 certificates of EU DCC signers: PEM (one or more), DER, or base64 DER as the EU
  test data carries them; each becomes a `dcc` key with kid = first 8 bytes of SHA-256 over
  the DER, and its issuer is the certificate's country unless one is given;
- a JWKS of a SMART Health Card issuer (`{"keys": [{"kty": "EC", ...}]}`); each key becomes
  an `shc` key with kid = its RFC 7638 thumbprint. The issuer's card revocation lists are
  read from beside it, as the issuer publishes them: `<dir of the JWKS>/crl/<kid>.json`. A
  key that announces a CRL (`crlVersion`) needs that file, at least as new.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.codes.certificates import SignerCertificate, read_certificates
from gateway.codes.cose import Algorithm, algorithm_of
from gateway.codes.jose import jwk_public_key, thumbprint
from gateway.codes.revocation import RevocationList, parse_crl
from gateway.codes.trust import KeyFormat, TrustedKey, TrustList, TrustListError, parse_trust_list

CRL_DIRECTORY = "crl"


def read_trust_file(path: Path, *, issuer: str = "") -> TrustList:
    """The keys `path` names, as a trust list (version 0 unless the file is a trust list).

    `issuer` binds certificates and JWKS keys to an issuer (for a JWKS: the `iss` of its
    cards); without it, a JWKS's keys accept any `iss`. TrustListError says what is wrong.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrustListError(f"{path}: cannot read: {exc.strerror}") from None
    if not data.lstrip().startswith(b"{"):
        keys = certificate_keys(data, issuer=issuer, source=str(path))
        return TrustList(keys={key.kid: key for key in keys})
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TrustListError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(document, dict) and "version" in document:
        return parse_trust_list(data, source=str(path))
    keys = jwks_keys(document, issuer=issuer, crl_directory=path.parent / CRL_DIRECTORY)
    return TrustList(keys={key.kid: key for key in keys})


def certificate_keys(data: bytes, *, issuer: str = "", source: str) -> list[TrustedKey]:
    """A `dcc` key for each certificate in `data` (PEM, DER or base64 DER)."""
    try:
        certificates = [SignerCertificate.from_der(der) for der in read_certificates(data)]
    except ValueError as exc:
        raise TrustListError(f"{source}: not a trust list, JWKS or certificate: {exc}") from None
    return [
        TrustedKey(
            kid=certificate.kid,
            issuer=issuer or certificate.country or "",
            alg=algorithm_of(certificate.public_key),
            public_key=certificate.public_key,
            format=KeyFormat.DCC,
            certificate=certificate,
        )
        for certificate in certificates
    ]


def jwks_keys(document: Any, *, issuer: str = "", crl_directory: Path) -> list[TrustedKey]:
    """An `shc` key for each key of a JWKS, with its CRL from `crl_directory` when announced."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TrustListError("a JWKS needs a non-empty 'keys' list")
    keys = []
    for index, entry in enumerate(entries):
        try:
            keys.append(_jwks_key(entry, issuer, crl_directory))
        except ValueError as exc:
            raise TrustListError(f"JWKS keys[{index}]: {exc}") from None
    return keys


def _jwks_key(entry: Any, issuer: str, crl_directory: Path) -> TrustedKey:
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    if entry.get("alg", "ES256") != "ES256" or entry.get("use", "sig") != "sig":
        raise ValueError("a health card key has alg 'ES256' and use 'sig'")
    public_key = jwk_public_key(entry)
    kid = thumbprint(public_key)
    if entry.get("kid") != kid:
        raise ValueError(f"kid {entry.get('kid')!r} is not the key's thumbprint {kid}")
    crl_version = entry.get("crlVersion")
    revocations = None
    if crl_version is not None:
        revocations = _crl(crl_directory / f"{kid}.json", kid, crl_version)
    return TrustedKey(
        kid=kid,
        issuer=issuer,
        alg=Algorithm.ES256,
        public_key=public_key,
        format=KeyFormat.SHC,
        revocations=revocations,
    )


def _crl(path: Path, kid: str, crl_version: Any) -> RevocationList:
    if isinstance(crl_version, bool) or not isinstance(crl_version, int) or crl_version < 1:
        raise ValueError(f"crlVersion must be a whole number >= 1, not {crl_version!r}")
    try:
        revocations = parse_crl(json.loads(path.read_bytes()), kid)
    except FileNotFoundError:
        raise ValueError(f"the key announces a revocation list, but {path} is missing") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if revocations.ctr < crl_version:
        raise ValueError(f"{path} is version {revocations.ctr}; the key announces {crl_version}")
    return revocations
