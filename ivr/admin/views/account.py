"""Signing in and out, and the interface language: the only pages open to anonymous users."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from ivr.admin import auth
from ivr.admin.i18n import LANGUAGES
from ivr.admin.models import AuditEntry, User
from ivr.admin.services import services
from ivr.admin.views.common import t

bp = Blueprint("account", __name__)

# Where a role lands after login when it asked for no page (roles that see one area only).
LANDING = {"teleassistance": "teleassistance.citizens", "back_office": "backoffice.queue"}


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = ""
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "")[:64].strip()
        password = request.form.get("password", "")[:200]
        ip = auth.client_ip()
        admin = services()
        limiter = admin.login_limiter
        if limiter.blocked(ip, username):
            error, status = t("too_many_logins"), 429
        else:
            with admin.sessions.begin() as db:
                user = db.scalars(select(User).where(User.username == username)).first()
                if auth.verify(user, password):
                    limiter.succeeded(ip, username)
                    session.clear()
                    session["uid"] = user.id
                    session["pwv"] = user.password_hash[-12:]
                    session["lang"] = user.language
                    g.user = user
                    auth.audit(db, "login", username)
                    nxt = request.args.get("next", "")
                    if not nxt.startswith("/") or nxt.startswith("//"):
                        nxt = url_for(LANDING.get(user.role, "publishing.home"))
                    return redirect(nxt)
                limiter.failed(ip, username)
                db.add(AuditEntry(username=username or "-", action="login_failed", ip=ip))
            error, status = t("bad_login"), 401
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("account.login"))


@bp.post("/lang")
def set_language():
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        user = auth.current_user()
        if user is not None:
            with services().sessions.begin() as db:
                row = db.get(User, user.id)
                row.language = lang
    back = request.form.get("back", "/")
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/")
