"""Who may use which page: local accounts with argon2id hashes, sessions, audit log.

Roles: the guards share one PIN (each types a name, which is what their actions are recorded
as); managers and technicians have their own passwords. All blocking (hashing, database):
call from a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from gateway.core.errors import CheckpointError
from gateway.core.values import AuditRecord
from gateway.service.throttle import LoginThrottle
from gateway.storage import accounts, audit

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractContextManager[Session]]

GUARD_ACCOUNT = "guard"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
_PIN = re.compile(r"^[0-9]{4,12}$")
_PASSWORD_MIN, _PASSWORD_MAX = 8, 128
_ACTOR_MAX = 32


class Role(StrEnum):
    GUARD = "guard"
    MANAGER = "manager"
    TECHNICIAN = "technician"


class AccessError(CheckpointError):
    """Refused; `code` is the message key the pages translate."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SignInThrottled(AccessError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too-many-attempts", f"too many failed sign-ins; wait {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user: their account, role, and the name their actions are recorded as."""

    username: str
    role: Role
    actor: str
    expires_at: datetime


class AccessControl:
    """Setup, sign-in with rate limiting, sessions and the audit log, on the gateway database."""

    def __init__(
        self,
        *,
        transaction: Transaction,
        now: Callable[[], datetime],
        throttle: LoginThrottle | None = None,
        hasher: PasswordHasher | None = None,
        session_hours: float = 12.0,
        roles: frozenset[Role] = frozenset(Role),
    ) -> None:
        self.roles = roles  # the roles this server has pages for: each needs an account
        self._transaction = transaction
        self._now = now
        self._throttle = throttle or LoginThrottle()
        self._hasher = hasher or PasswordHasher()
        self._session_ttl = timedelta(hours=session_hours)
        # Verified against when an account does not exist, so both take the same time.
        self._decoy = self._hasher.hash(secrets.token_hex(16))

    # -- first run ---------------------------------------------------------------------

    def needs_setup(self) -> bool:
        """True until every role has an account: the pages then lead to the setup page."""
        with self._transaction() as session:
            return self._needs_setup(session)

    def _needs_setup(self, session: Session) -> bool:
        return not {r.value for r in self.roles} <= accounts.roles_with_accounts(session)

    def set_up(
        self,
        *,
        manager: str,
        manager_password: str,
        technician: str = "",
        technician_password: str = "",
        guard_pin: str = "",
    ) -> None:
        """Create the first accounts of this server's roles. Refused once they exist (change
        them signed in)."""
        wanted = [(manager, manager_password, Role.MANAGER)]
        if Role.TECHNICIAN in self.roles:
            wanted.append((technician, technician_password, Role.TECHNICIAN))
            if manager == technician:
                raise AccessError(
                    "same-username", "the manager and technician need their own names"
                )
        for username, password, _ in wanted:
            _check_username(username)
            _check_password(password)
        if Role.GUARD in self.roles:
            _check_pin(guard_pin)
            wanted.append((GUARD_ACCOUNT, guard_pin, Role.GUARD))
        hashes = [(name, role, self._hasher.hash(secret)) for name, secret, role in wanted]
        now = self._now()
        with self._transaction() as session:
            if not self._needs_setup(session):
                raise AccessError("already-set-up", "the accounts are already set up")
            for username, role, secret_hash in hashes:
                accounts.put_account(
                    session, username=username, role=role.value, secret_hash=secret_hash, now=now
                )
            audit.add_audit(session, at=now, actor="setup", role="", action="set-up")
        log.info("web accounts set up")

    # -- sign-in -----------------------------------------------------------------------

    def sign_in(
        self, *, username: str, secret: str, client: str, actor: str | None = None
    ) -> tuple[str, Principal]:
        """Check the secret; returns a new session token (for the cookie) and its principal.

        Raises `SignInThrottled` while this client or account has too many recent failures,
        and `AccessError("wrong-credentials")` for an unknown account or a wrong secret alike.
        """
        keys = (f"client:{client}", f"account:{username}")
        wait = self._throttle.retry_after(keys)
        if wait > 0:
            raise SignInThrottled(round(wait + 0.5))
        with self._transaction() as session:
            account = accounts.get_account(session, username=username)
        if not self._verify(account, secret):
            self._throttle.failed(keys)
            self.record(
                actor=account.username if account else "?",
                role=account.role if account else "",
                action="sign-in-refused",
            )
            raise AccessError("wrong-credentials", "wrong name, password or PIN")
        assert account is not None
        self._throttle.succeeded(keys)
        token = secrets.token_urlsafe(32)
        now = self._now()
        who = _actor(actor) if account.role == Role.GUARD else account.username
        with self._transaction() as session:
            accounts.purge_sessions(session, now=now)
            if self._hasher.check_needs_rehash(account.secret_hash):
                accounts.put_account(
                    session,
                    username=account.username,
                    role=account.role,
                    secret_hash=self._hasher.hash(secret),
                    now=now,
                )
            signed_in = accounts.add_session(
                session,
                token_digest=_digest(token),
                account=account,
                actor=who,
                now=now,
                expires_at=now + self._session_ttl,
            )
            audit.add_audit(session, at=now, actor=who, role=account.role, action="sign-in")
        return token, _principal(signed_in)

    def _verify(self, account: accounts.Account | None, secret: str) -> bool:
        try:
            self._hasher.verify(account.secret_hash if account else self._decoy, secret)
        except (VerificationError, InvalidHashError):
            return False
        return account is not None

    def principal(self, token: str) -> Principal | None:
        """Whose session this cookie is, or None (unknown, expired, or the role changed)."""
        if not token:
            return None
        with self._transaction() as session:
            signed_in = accounts.get_session(session, token_digest=_digest(token), now=self._now())
        return None if signed_in is None else _principal(signed_in)

    def sign_out(self, token: str) -> None:
        with self._transaction() as session:
            accounts.delete_session(session, token_digest=_digest(token))

    def change_secret(self, principal: Principal, *, username: str, secret: str) -> None:
        """Set a new password (or the guard PIN) for an account of the same role or the
        guard PIN (managers may change it); every session of that account ends."""
        now = self._now()
        with self._transaction() as session:
            account = accounts.get_account(session, username=username)
            if account is None:
                raise AccessError("no-account", f"no account {username}")
            allowed = account.username == principal.username or (
                principal.role is Role.MANAGER and account.role == Role.GUARD
            )
            if not allowed:
                raise AccessError("forbidden", "you may change your own password or the guard PIN")
            if account.role == Role.GUARD:
                _check_pin(secret)
            else:
                _check_password(secret)
            accounts.put_account(
                session,
                username=username,
                role=account.role,
                secret_hash=self._hasher.hash(secret),
                now=now,
            )
            accounts.delete_sessions_of(session, username=username)
            audit.add_audit(
                session,
                at=now,
                actor=principal.actor,
                role=principal.role.value,
                action="change-secret",
                detail=username,
            )

    # -- audit -------------------------------------------------------------------------

    def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        entry_id: str | None = None,
        detail: str = "",
    ) -> None:
        with self._transaction() as session:
            audit.add_audit(
                session,
                at=self._now(),
                actor=actor,
                role=role,
                action=action,
                entry_id=entry_id,
                detail=detail,
            )

    def audited(
        self, principal: Principal, action: str, *, entry_id: str | None = None, detail: str = ""
    ) -> None:
        self.record(
            actor=principal.actor,
            role=principal.role.value,
            action=action,
            entry_id=entry_id,
            detail=detail,
        )

    def audit_log(self, *, limit: int, action: str | None = None) -> list[AuditRecord]:
        with self._transaction() as session:
            return audit.recent_audit(session, limit=limit, action=action)


def _principal(signed_in: accounts.SignedIn) -> Principal:
    return Principal(
        signed_in.username, Role(signed_in.role), signed_in.actor, signed_in.expires_at
    )


def _digest(token: str) -> str:
    # A stolen database copy must not hold usable cookies.
    return hashlib.sha256(token.encode()).hexdigest()


def _actor(name: str | None) -> str:
    name = " ".join((name or "").split())[:_ACTOR_MAX]
    return name or GUARD_ACCOUNT


def _check_username(username: str) -> None:
    if not _USERNAME.match(username) or username == GUARD_ACCOUNT:
        raise AccessError(
            "bad-username", "a user name is lowercase letters, digits, '.', '_' or '-'"
        )


def _check_password(password: str) -> None:
    if not _PASSWORD_MIN <= len(password) <= _PASSWORD_MAX:
        raise AccessError("weak-password", f"a password has {_PASSWORD_MIN} or more characters")


def _check_pin(pin: str) -> None:
    if not _PIN.match(pin):
        raise AccessError("bad-pin", "a PIN is 4 to 12 digits")
