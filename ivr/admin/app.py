"""The admin web application (``ivr admin``): Flask, server-rendered pages, no external assets.

Every page works without JavaScript (plain forms, keyboard and screen-reader friendly); a small
script in ``static/admin.js`` only adds live validation while typing YAML and the live view's
auto-refresh. Every route declares the permission it needs (``auth.require``); every
state-changing request carries the session's CSRF token; every change is audited.

The pages are blueprints, one module per area (:mod:`ivr.admin.views`); what they work with
(database, settings, publisher, live state, clock...) is one typed
:class:`~ivr.admin.services.AdminServices` built here. The draft lives in the database (one
shared draft); publishing and rollbacks go through :class:`~ivr.admin.publish.Publisher`, which
is independent of Flask.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Flask, g, jsonify, render_template, request, session

from ivr import config
from ivr.admin import auth
from ivr.admin.db import open_database
from ivr.admin.i18n import LANGUAGES
from ivr.admin.publish import AsteriskTarget, Publisher
from ivr.admin.service_levels import CallRecords
from ivr.admin.services import AdminServices, Clock, install
from ivr.admin.views import BLUEPRINTS
from ivr.admin.views.common import t
from ivr.live import LiveState, open_state

if TYPE_CHECKING:
    from ivr.prompts.build import Synthesizer

PACKAGE = Path(__file__).resolve().parent

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def _secret_key(var_dir: Path) -> str:
    """A random key kept in ``var/admin-secret-key`` (0600) so sessions survive restarts."""
    path = Path(var_dir) / "admin-secret-key"
    try:
        key = path.read_text().strip()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _now(zone: ZoneInfo) -> datetime:
    return datetime.now(zone)


def create_app(
    settings: config.Settings | None = None,
    *,
    target: AsteriskTarget | Sequence[AsteriskTarget] | None = None,
    database_url: str | None = None,
    secret_key: str | None = None,
    live_state: LiveState | None = None,
    synthesizer: Synthesizer | None = None,
    sync_sounds: Callable[[], object] | None = None,
    login_limiter: auth.LoginLimiter | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the admin app for ``settings``' city. ``target`` is the Asterisk to publish to
    (None: files only); ``sync_sounds`` copies built audio where Asterisk reads it (None: it
    reads ``settings.sounds_dir``). ``ivr admin`` decides both from the settings (``cli``).
    Several targets: every Asterisk node (``NU_ASTERISK_NODES``); the live view and the desks
    follow the first."""
    settings = settings or config.load()
    app = Flask(
        "ivr.admin",
        root_path=str(PACKAGE),
        template_folder="templates",
        static_folder="static",
    )
    sessions = open_database(database_url or settings.database_url)
    publisher = Publisher(settings, sessions, target)
    publisher.ensure_imported()
    target = publisher.target
    admin = AdminServices(
        settings=settings,
        sessions=sessions,
        publisher=publisher,
        target=target,
        live_source=target.ami if target else None,
        live_state=live_state or open_state(settings.redis_url),
        call_records=CallRecords(settings.database_url),
        login_limiter=login_limiter or auth.LoginLimiter(),
        clock=clock or _now,
        synthesizer=synthesizer,
        sync_sounds=sync_sounds,
    )
    install(app, admin)
    app.config.update(
        SECRET_KEY=secret_key or _secret_key(settings.var_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="nu_admin",
        MAX_CONTENT_LENGTH=1024 * 1024,
        # For tests and scripts holding the app; the views use services().
        SESSIONS=sessions,
        LIVE_STATE=admin.live_state,
    )
    if settings.admin_proxy_hops > 0:
        _behind_proxy(app, settings.admin_proxy_hops)
    _hooks(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app


def _hooks(app: Flask) -> None:
    """Around every view: the user, the language and the CSRF check before; the security
    headers after; the template helpers; the error pages (JSON under ``/api/``)."""

    @app.before_request
    def _before() -> None:
        auth.load_user()
        user = auth.current_user()
        lang = session.get("lang") or (user.language if user else None)
        if lang not in LANGUAGES:
            lang = request.accept_languages.best_match(LANGUAGES) or "it"
        g.lang = lang
        auth.check_csrf()

    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if auth.current_user() is not None:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def _context() -> dict[str, Any]:
        return {
            "t": t,
            "csrf_token": auth.csrf_token,
            "user": auth.current_user(),
            "can": auth.allowed,
            "ui_lang": g.get("lang", "it"),
            "ui_languages": LANGUAGES,
        }

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(413)
    @app.errorhandler(429)
    def _error(err):
        code = getattr(err, "code", 500)
        message = t("csrf_refused") if getattr(err, "description", "") == "csrf" else ""
        if request.path.startswith("/api/"):
            return jsonify({"error": code, "message": message or str(err)}), code
        return render_template("error.html", code=code, message=message), code


def _behind_proxy(app: Flask, hops: int) -> None:
    """Behind ``hops`` TLS-terminating proxies: the client address and scheme come from their
    X-Forwarded-* headers (werkzeug's ProxyFix), and the session cookie is HTTPS-only. Without
    a proxy those headers are ignored: anybody could send them."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config.update(SESSION_COOKIE_SECURE=True, PREFERRED_URL_SCHEME="https")
