"""Who may see the console: operators with argon2-hashed passwords, signed session cookies,
a CSRF token on every form, and a throttle on failed logins.

The session cookie is Starlette's (signed with itsdangerous), HttpOnly and SameSite=Lax, and
Secure when the request came over TLS. Its key comes from the variable named by
`[console] session_key_env`, else from `session.key` in the state folder, made at the first
start: a fresh install works with no setting, and a restart keeps everyone logged in. A
reverse proxy that authenticates operators itself may name the user in
`[console] trusted_user_header`, and only from `trusted_proxies`.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from ingest.webhooks import from_trusted_proxy
from intake import clock
from intake.errors import IntakeError
from intake.runtime import Runtime
from intake.settings import Settings, secret
from store.models import UserRow

HASHER = PasswordHasher()  # argon2id with the library's current parameters
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
# A hash to verify against when the user does not exist, so both take the same time.
_DUMMY_HASH = HASHER.hash(secrets.token_hex(16))


class BadUser(IntakeError):
    """A user name or password that cannot be used."""


# --- users ---------------------------------------------------------------------------------


def check_username(name: str) -> str:
    name = name.strip().lower()
    if not 2 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise BadUser("a user name is 2-64 characters: a-z, 0-9, '.', '_' or '-'")
    return name


def add_user(session: Session, name: str, password: str) -> UserRow:
    """A new operator (or a new password for an existing one)."""
    name = check_username(name)
    if len(password) < 10:
        raise BadUser("a password has at least 10 characters")
    row = session.scalars(select(UserRow).where(UserRow.username == name)).one_or_none()
    if row is None:
        row = UserRow(username=name, password_hash="", created_at=clock.now())
        session.add(row)
    row.password_hash = HASHER.hash(password)
    return row


def remove_user(session: Session, name: str) -> bool:
    result = session.execute(delete(UserRow).where(UserRow.username == name.strip().lower()))
    return bool(getattr(result, "rowcount", 0))


def list_users(session: Session) -> list[UserRow]:
    return list(session.scalars(select(UserRow).order_by(UserRow.username)))


def verify(session: Session, name: str, password: str) -> UserRow | None:
    """The user when `password` is theirs; None otherwise (in about the same time)."""
    row = session.scalars(
        select(UserRow).where(UserRow.username == name.strip().lower())
    ).one_or_none()
    try:
        HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = HASHER.hash(password)
    row.last_login_at = clock.now()
    return row


# --- the session key ------------------------------------------------------------------------


def session_key(settings: Settings) -> str:
    """From the environment, else the state folder's `session.key` (made once, mode 600)."""
    given = secret(settings.console.session_key_env)
    if given:
        return given
    path = Path(settings.broker.state_dir) / "session.key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key)
    return key


# --- who is asking --------------------------------------------------------------------------


def current_user(request: Request) -> str | None:
    """The logged-in operator: from the session, or from the trusted proxy's header."""
    settings: Settings = request.app.state.runtime.settings
    header = settings.console.trusted_user_header
    if header and from_trusted_proxy(request):
        named = request.headers.get(header, "").strip().lower()
        if named:
            return named
    user = request.session.get("user")
    expires = request.session.get("expires", 0)
    if not isinstance(user, str) or not isinstance(expires, (int, float)):
        return None
    if clock.now().timestamp() > expires:
        request.session.clear()
        return None
    return user


def log_in(request: Request, user: str) -> None:
    settings: Settings = request.app.state.runtime.settings
    request.session.clear()  # a new session: no fixation
    request.session["user"] = user
    request.session["expires"] = clock.now().timestamp() + settings.console.session_hours * 3600
    request.session["csrf"] = secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """The session's token for its forms (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, given: Any) -> bool:
    token = request.session.get("csrf")
    if not isinstance(token, str) or not isinstance(given, str):
        return False
    return hmac.compare_digest(token.encode(), given.encode("utf-8", "replace"))


# --- failed logins --------------------------------------------------------------------------


@dataclass
class Throttle:
    """Failed logins per address and per user name in the last minute: in Redis when there
    is a broker (every instance counts), else in this process."""

    runtime: Runtime
    _local: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, *keys: str) -> bool:
        limit = self.runtime.settings.console.login_failures_per_minute
        return any(self._count(key) >= limit for key in keys)

    def failed(self, *keys: str) -> None:
        client = getattr(self.runtime.broker, "client", None)
        for key in keys:
            if client is not None:
                try:
                    name = f"intake:login-failures:{key}"
                    client.incr(name)
                    client.expire(name, 60, nx=True)
                    continue
                except Exception:  # Redis down: count here
                    pass
            with self._lock:
                self._local.setdefault(key, []).append(time.monotonic())

    def _count(self, key: str) -> int:
        client = getattr(self.runtime.broker, "client", None)
        if client is not None:
            try:
                return int(client.get(f"intake:login-failures:{key}") or 0)
            except Exception:
                pass
        with self._lock:
            recent = [t for t in self._local.get(key, []) if time.monotonic() - t < 60]
            self._local[key] = recent
            return len(recent)
