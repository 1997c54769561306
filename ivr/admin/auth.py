"""Accounts, passwords, sessions, CSRF, login rate limiting and the audit log.

* Passwords: werkzeug's scrypt hash (salted, memory-hard); never stored or logged in clear.
* Sessions: Flask's signed cookie (HttpOnly, SameSite=Lax) carrying only the user id, a CSRF
  token and the simulator's moves. The user row is read on every request, so disabling an
  account or changing its role takes effect at once; the session also carries the tail of the
  password hash, so a password change logs out every other session of that account.
* CSRF: one random token per session; every state-changing request (POST, PUT, PATCH, DELETE)
  must echo it in the ``csrf_token`` form field or the ``X-CSRF-Token`` header (JSON API), or
  it is refused with 400 before any view runs. SameSite alone is not enough for old browsers.
  Only the Open311 API (:data:`CSRF_EXEMPT`), no browser form, posts without it: an API key.
* Rate limiting: failed logins are counted per (client address, user name) and per client
  address in a sliding window, in memory: the admin runs as one process, and a restart
  forgetting the counters is acceptable (the lockout is minutes long). Locked attempts are
  refused without checking the password, so guessing cannot continue.
* Roles: ``viewer`` reads everything and may run test calls; ``editor`` also changes the draft,
  prompts, switches and publishes/rolls back; ``admin`` also manages accounts and reads the
  audit log; ``operator`` (for the operator console, later) sees only the live view;
  ``teleassistance`` sees only the teleassistance pages (the enrolled citizens' personal data,
  which admins may also open and nobody else).
* Audit: :func:`audit` records who, when, what, before and after, in the same transaction as
  the change it describes.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from flask import abort, g, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.admin.models import ROLES, AuditEntry, User
from ivr.admin.services import services

USERNAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
MIN_PASSWORD = 10
CAN = {
    "read": {"admin", "editor", "viewer"},
    "simulate": {"admin", "editor", "viewer"},
    "edit": {"admin", "editor"},
    "publish": {"admin", "editor"},
    "users": {"admin"},
    "live": {"admin", "editor", "viewer", "operator"},
    # Enrolled citizens' personal data (ivr/admin/views/teleassistance.py): the teleassistance
    # staff and, as for every page, the admin; nobody else sees a name or a number of theirs.
    "teleassistance": {"admin", "teleassistance"},
    # Back-office requests (ivr/backoffice/): citizens' contacts and messages, for the back
    # office staff who work them and the admin.
    "back_office": {"admin", "back_office"},
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Blueprints that are not browser forms and carry no session: the Open311 GeoReport API
# (ivr/backoffice/open311.py), whose clients post with an API key instead.
CSRF_EXEMPT = {"open311"}


class AccountError(ValueError):
    pass


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > 200:
        raise AccountError("the password is too long")


def create_user(db: Any, username: str, password: str, role: str, language: str = "it") -> User:
    """Add an account (used by ``ivr admin create-user`` and the users page)."""
    if not USERNAME.match(username):
        raise AccountError("user names are 2-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    check_new_password(password)
    if db.query(User).filter_by(username=username).first() is not None:
        raise AccountError(f"user '{username}' exists already")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        language=language if language in ("it", "en") else "it",
    )
    db.add(user)
    db.flush()
    return user


# Spent on unknown user names too, so timing does not tell which names exist.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def verify(user: User | None, password: str) -> bool:
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(user.password_hash, password)


class LoginLimiter:
    """At most ``per_user`` failures per (address, name) and ``per_ip`` per address in
    ``window`` seconds; a success clears the pair's failures."""

    def __init__(self, per_user: int = 5, per_ip: int = 20, window: float = 300.0):
        self.per_user, self.per_ip, self.window = per_user, per_ip, window
        self._fails: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Any, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def blocked(self, ip: str, username: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return (
                len(self._recent((ip, username.lower()), now)) >= self.per_user
                or len(self._recent(ip, now)) >= self.per_ip
            )

    def failed(self, ip: str, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent((ip, username.lower()), now).append(now)
            self._recent(ip, now).append(now)

    def succeeded(self, ip: str, username: str) -> None:
        with self._lock:
            self._fails.pop((ip, username.lower()), None)


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """before_request: refuse a state-changing request without the session's token."""
    if request.method not in UNSAFE_METHODS or request.blueprint in CSRF_EXEMPT:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="csrf")


def client_ip() -> str:
    return request.remote_addr or "-"


def current_user() -> User | None:
    return g.get("user")


def load_user() -> None:
    """before_request: the logged-in, active user (or None) in ``g.user``."""
    g.user = None
    user_id = session.get("uid")
    if user_id is None:
        return
    with services().sessions() as db:
        user = db.get(User, user_id)
        if user is not None and user.active and session.get("pwv") == user.password_hash[-12:]:
            db.expunge(user)
            g.user = user
        else:
            session.clear()


def require(permission: str) -> Callable:
    """Decorator: anonymous -> login page (JSON: 401); logged in without the right -> 403."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.path.startswith("/api/") or request.method != "GET":
                    abort(401)
                return redirect(url_for("account.login", next=request.full_path.rstrip("?")))
            if user.role not in CAN[permission]:
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission  # type: ignore[attr-defined] - the route test reads it
        return wrapped

    return decorator


def allowed(permission: str) -> bool:
    user = current_user()
    return user is not None and user.role in CAN[permission]


def audit(db: Any, action: str, target: str = "", before: Any = None, after: Any = None) -> None:
    user = current_user()
    db.add(
        AuditEntry(
            username=user.username if user else "-",
            action=action,
            target=target[:255],
            before=None if before is None else str(before),
            after=None if after is None else str(after),
            ip=client_ip(),
        )
    )


__all__ = ["ROLES"]

# The back office's knowledge and settings (ivr/admin/views/backoffice_*.py). FAQ entries carry no
# personal data: the back office writes them, editors read them to put them into the draft.
# Categories and their SLA hours are the deadlines the back office is measured by: admins set them.
CAN["faq"] = {"admin", "editor", "back_office"}
CAN["back_office_admin"] = {"admin"}
