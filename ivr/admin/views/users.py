"""Accounts and the audit log, for admins only: create accounts, change a role, disable an
account or set its password (never one's own admin role away), and read who changed what."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from ivr.admin import auth
from ivr.admin.models import ROLES, AuditEntry, User
from ivr.admin.services import services
from ivr.admin.views.common import diff_lines, t

bp = Blueprint("users", __name__)


@bp.get("/users")
@auth.require("users")
def users():
    with services().sessions() as db:
        rows = db.scalars(select(User).order_by(User.username)).all()
    return render_template("users.html", users=rows, roles=ROLES)


@bp.post("/users")
@auth.require("users")
def create_user():
    try:
        with services().sessions.begin() as db:
            user = auth.create_user(
                db,
                request.form.get("username", "").strip(),
                request.form.get("password", ""),
                request.form.get("role", ""),
                request.form.get("language", "it"),
            )
            auth.audit(db, "user_create", user.username, None, f"role={user.role}")
    except auth.AccountError as err:
        flash(str(err), "error")
    else:
        flash(t("saved"), "ok")
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>")
@auth.require("users")
def update_user(user_id: int):
    me = auth.current_user()
    try:
        with services().sessions.begin() as db:
            row = db.get(User, user_id)
            if row is None:
                abort(404)
            before = f"role={row.role} active={row.active}"
            role = request.form.get("role", row.role)
            if role not in ROLES:
                raise auth.AccountError("unknown role")
            active = request.form.get("active", "on" if row.active else "") == "on"
            if row.id == me.id and (role != "admin" or not active):
                raise auth.AccountError(t("cannot_demote_self"))
            row.role, row.active = role, active
            password = request.form.get("password", "")
            if password:
                auth.check_new_password(password)
                row.password_hash = auth.hash_password(password)
            after = f"role={row.role} active={row.active}" + (
                " password=changed" if password else ""
            )
            auth.audit(db, "user_update", row.username, before, after)
    except auth.AccountError as err:
        flash(str(err), "error")
    else:
        flash(t("saved"), "ok")
    return redirect(url_for("users.users"))


@bp.get("/audit")
@auth.require("users")
def audit_log():
    with services().sessions() as db:
        rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(300)).all()
    return render_template("audit.html", entries=rows, diff_lines=diff_lines)
