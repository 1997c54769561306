"""Departments: whether each is open now (live dialplan, switches, the city's clock), their
names, hours and closures in the draft, and the manual switches that close a department or the
whole city at once (live state, effective immediately, audited)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from ivr.admin import auth, editing
from ivr.admin.services import services
from ivr.admin.views.common import (
    city_now,
    draft_state,
    languages,
    live_dialplan,
    save_draft,
    t,
)
from ivr.flow.calendar import CITY_SWITCH, department_open
from ivr.prompts.catalogue import full_catalogue

bp = Blueprint("departments", __name__)


@bp.get("/departments")
@auth.require("read")
def departments():
    _, dialplan, issues = draft_state()
    live = live_dialplan()
    admin = services()
    switches = admin.live_state.switches()
    rows = []
    if live is not None:
        now = city_now(live).replace(tzinfo=None)
        for dept in live.departments.values():
            state = department_open(dept, live.calendar, now, switches)
            rows.append((dept, state))
    try:
        catalogue = full_catalogue(live, admin.settings.prompts_dir) if live else {}
    except (OSError, ValueError):
        catalogue = {}
    return render_template(
        "departments.html",
        dialplan=dialplan,
        live=live,
        rows=rows,
        issues=[i for i in issues if dialplan and i.node in dialplan.departments],
        switches=switches,
        city_switch=CITY_SWITCH in switches,
        catalogue=catalogue,
    )


@bp.route("/departments/<dept_id>", methods=["GET", "POST"])
@auth.require("read")
def department(dept_id: str):
    text, dialplan, issues = draft_state()
    langs = languages(dialplan)
    error = ""
    if request.method == "POST":
        if not auth.allowed("edit"):
            abort(403)
        try:
            new = editing.update_department(text, dept_id, request.form, langs)
        except editing.EditError as err:
            error = str(err)
        else:
            save_draft(new, "department_edit", dept_id)
            flash(t("saved"), "ok")
            return redirect(url_for("departments.department", dept_id=dept_id))
    try:
        departments_map = editing.load(text).get("departments") or {}
    except editing.EditError:
        departments_map = {}
    body = departments_map.get(dept_id)
    if body is None:
        abort(404)
    return render_template(
        "department.html",
        dept_id=dept_id,
        body=body,
        languages=langs,
        hours=editing.hours_lines(body),
        closures=editing.closure_lines(body),
        issues=[i for i in issues if i.node == dept_id],
        error=error,
        form=request.form if request.method == "POST" else None,
    )


@bp.post("/departments")
@auth.require("edit")
def add_department():
    text, dialplan, _ = draft_state()
    dept_id = request.form.get("dept_id", "")
    try:
        new = editing.add_department(text, dept_id, languages(dialplan))
    except editing.EditError as err:
        flash(str(err), "error")
        return redirect(url_for("departments.departments"))
    save_draft(new, "department_add", dept_id.strip())
    return redirect(url_for("departments.department", dept_id=dept_id.strip()))


@bp.post("/switches")
@auth.require("edit")
def switch():
    target = request.form.get("target", "")
    on = request.form.get("state") == "on"
    live = live_dialplan()
    known = set(live.departments) if live else set()
    if target != "city" and target not in known:
        abort(400)
    key = CITY_SWITCH if target == "city" else target
    admin = services()
    state = admin.live_state
    before = key in state.switches()
    try:
        state.set_switch(key, on)
    except Exception as exc:  # Redis down: say so, change nothing
        flash(t("switch_failed", error=str(exc)), "error")
        return redirect(url_for("departments.departments"))
    with admin.sessions.begin() as db:
        auth.audit(db, "switch", target, "on" if before else "off", "on" if on else "off")
    flash(t("switch_done", target=target, state=t("on") if on else t("off")), "ok")
    return redirect(url_for("departments.departments") + "#switches")
