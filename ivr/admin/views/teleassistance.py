"""Teleassistance enrolment, for the teleassistance staff (and admins): list, add, edit,
suspend/resume, CSV import, export one citizen, erase.

Every change is checked whole by :class:`~ivr.teleassistance.store.TeleassistanceStore` (a
refused form is shown again with each problem beside its field, and nothing is written; a CSV
import is all-or-nothing, every ``row N, field: message`` listed) and audited with the
citizen's id only: names, numbers, contacts, notes and suspension reasons (a hospital stay)
never reach the audit log or the logs. The list shows numbers masked; the edit page, the
export and nothing else show them whole, to ``CAN["teleassistance"]`` only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from ivr.admin import auth
from ivr.admin.services import services
from ivr.admin.views.common import t
from ivr.callbacks.models import LANGUAGES
from ivr.logs import mask_number
from ivr.teleassistance import rules
from ivr.teleassistance.csvio import COLUMNS, CsvError
from ivr.teleassistance.models import KINDS
from ivr.teleassistance.rules import CitizenData, CitizenError, Problem
from ivr.teleassistance.store import Enrolment, TeleassistanceStore

bp = Blueprint("teleassistance", __name__)

FIELDS = (
    "name",
    "numbers",
    "language",
    "area",
    "weekdays",
    "window",
    "call_kind",
    "contacts",
    "consent_on",
    "consent_by",
    "notes",
)
SUSPENSION_FIELDS = ("reason", "from", "to")
MAX_CSV = 2 * 1024 * 1024


def _store() -> TeleassistanceStore:
    return services().teleassistance()


def _audit(action: str, citizen_id: int | None, after: str | None = None) -> None:
    """Who did what to which citizen: the id, never what is held about them."""
    with services().sessions.begin() as db:
        auth.audit(db, action, "" if citizen_id is None else f"citizen {citizen_id}", None, after)


def _errors(problems: list[Problem], known: tuple[str, ...] = FIELDS) -> dict[str, list[str]]:
    """Problems by form field; one naming no field of the form goes to the top (``form``)."""
    found: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        found[problem.field if problem.field in known else "form"].append(problem.message)
    return dict(found)


def _typed() -> dict[str, Any]:
    """The form as typed, to show again: numbers and contacts one per line."""
    form = request.form
    typed: dict[str, Any] = {name: form.get(name, "").strip() for name in FIELDS}
    typed["weekdays"] = form.getlist("weekdays")
    return typed


def _data(typed: dict[str, Any]) -> CitizenData:
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    return CitizenData(
        name=typed["name"],
        numbers=tuple(n for line in lines(typed["numbers"]) for n in rules.split_numbers(line)),
        language=typed["language"],
        weekdays=tuple(typed["weekdays"]),
        call_kind=typed["call_kind"],
        contacts=tuple(rules.parse_contact(line) for line in lines(typed["contacts"])),
        consent_on=typed["consent_on"],
        consent_by=typed["consent_by"],
        window=typed["window"],
        area=typed["area"],
        notes=typed["notes"],
    )


def _shown(enrolment: Enrolment) -> dict[str, Any]:
    data = enrolment.data
    return {
        "name": data.name,
        "numbers": "\n".join(data.numbers),
        "language": data.language,
        "area": data.area,
        "weekdays": list(data.weekdays),
        "window": data.window,
        "call_kind": data.call_kind,
        "contacts": "\n".join(rules.show_contact(c) for c in data.contacts),
        "consent_on": data.consent_on,
        "consent_by": data.consent_by,
        "notes": data.notes,
    }


def _blank() -> dict[str, Any]:
    user = auth.current_user()
    typed: dict[str, Any] = dict.fromkeys(FIELDS, "")
    typed.update(weekdays=[], language="it", call_kind="operator")
    typed["consent_by"] = user.username if user else ""
    return typed


def _form_page(
    typed: dict[str, Any],
    errors: dict[str, list[str]],
    enrolment: Enrolment | None = None,
    status: int = 200,
    suspension: dict[str, str] | None = None,
    suspension_errors: dict[str, list[str]] | None = None,
) -> Any:
    return (
        render_template(
            "teleassistance_citizen.html",
            form=typed,
            errors=errors,
            enrolment=enrolment,
            languages=LANGUAGES,
            weekdays=rules.WEEKDAYS,
            kinds=KINDS,
            reasons=rules.SUSPENSION_REASONS,
            hours=services().settings.teleassistance_hours,
            suspension=suspension or {},
            suspension_errors=suspension_errors or {},
        ),
        status,
    )


def _existing(citizen_id: int) -> Enrolment:
    enrolment = _store().get(citizen_id)
    if enrolment is None:
        abort(404)
    return enrolment


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/teleassistance")
@auth.require("teleassistance")
def citizens():
    area = request.args.get("area", "").strip()
    state = request.args.get("state", "")
    active = {"active": True, "suspended": False}.get(state)
    store = _store()
    today = store.clock().date()
    rows = [
        {
            "id": e.id,
            "name": e.data.name,
            "numbers": [mask_number(n) for n in e.data.numbers],
            "language": e.data.language,
            "area": e.data.area,
            "weekdays": e.data.weekdays,
            "window": e.data.window,
            "call_kind": e.data.call_kind,
            "suspended": e.suspended_on(today),
        }
        for e in store.citizens(area=area, active=active)
    ]
    page = render_template(
        "teleassistance.html", rows=rows, area=area, state=state, columns=COLUMNS
    )
    return _no_store(Response(page))


@bp.get("/teleassistance/new")
@auth.require("teleassistance")
def new():
    return _form_page(_blank(), {})


@bp.post("/teleassistance/new")
@auth.require("teleassistance")
def add():
    typed = _typed()
    try:
        citizen_id = _store().add(_data(typed))
    except CitizenError as err:
        return _form_page(typed, _errors(err.problems), status=422)
    _audit("teleassistance_add", citizen_id)
    flash(t("ta_added", id=citizen_id), "ok")
    return redirect(url_for("teleassistance.edit", citizen_id=citizen_id))


@bp.get("/teleassistance/<int:citizen_id>")
@auth.require("teleassistance")
def edit(citizen_id: int):
    enrolment = _existing(citizen_id)
    page, status = _form_page(_shown(enrolment), {}, enrolment)
    return _no_store(Response(page, status))


@bp.post("/teleassistance/<int:citizen_id>")
@auth.require("teleassistance")
def update(citizen_id: int):
    enrolment = _existing(citizen_id)
    typed = _typed()
    try:
        _store().edit(citizen_id, _data(typed))
    except CitizenError as err:
        return _form_page(typed, _errors(err.problems), enrolment, 422)
    _audit("teleassistance_edit", citizen_id)
    flash(t("ta_saved", id=citizen_id), "ok")
    return redirect(url_for("teleassistance.edit", citizen_id=citizen_id))


@bp.post("/teleassistance/<int:citizen_id>/suspend")
@auth.require("teleassistance")
def suspend(citizen_id: int):
    enrolment = _existing(citizen_id)
    typed = {name: request.form.get(name, "").strip() for name in SUSPENSION_FIELDS}
    start, end = rules.parse_date(typed["from"]), rules.parse_date(typed["to"])
    problems = []
    if typed["from"] and start is None:
        problems.append(Problem("from", "a date, YYYY-MM-DD"))
    if typed["to"] and end is None:
        problems.append(Problem("to", "a date, YYYY-MM-DD"))
    try:
        if problems:
            raise CitizenError(problems)
        _store().suspend(citizen_id, typed["reason"], start, end)
    except CitizenError as err:
        errors = _errors(err.problems, SUSPENSION_FIELDS)
        return _form_page(_shown(enrolment), {}, enrolment, 422, typed, errors)
    _audit("teleassistance_suspend", citizen_id)  # the reason (a hospital stay) stays out
    flash(t("ta_suspended_done", id=citizen_id), "ok")
    return redirect(url_for("teleassistance.edit", citizen_id=citizen_id))


@bp.post("/teleassistance/<int:citizen_id>/resume")
@auth.require("teleassistance")
def resume(citizen_id: int):
    _existing(citizen_id)
    _store().resume(citizen_id)
    _audit("teleassistance_resume", citizen_id)
    flash(t("ta_resumed_done", id=citizen_id), "ok")
    return redirect(url_for("teleassistance.edit", citizen_id=citizen_id))


@bp.get("/teleassistance/<int:citizen_id>/export")
@auth.require("teleassistance")
def export(citizen_id: int):
    """Everything held about one citizen (a data-access request), as a JSON download."""
    _existing(citizen_id)
    found = _store().export(citizen_id)
    _audit("teleassistance_export", citizen_id)
    response = Response(
        json.dumps(found, ensure_ascii=False, indent=2), mimetype="application/json"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="teleassistance-citizen-{citizen_id}.json"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return _no_store(response)


@bp.post("/teleassistance/<int:citizen_id>/erase")
@auth.require("teleassistance")
def erase(citizen_id: int):
    """The right to erasure: everything about the citizen, once the confirmation is ticked."""
    _existing(citizen_id)
    if request.form.get("confirm") != "on":
        flash(t("ta_erase_confirm"), "error")
        return redirect(url_for("teleassistance.edit", citizen_id=citizen_id))
    counts = _store().erase(citizen_id)
    _audit("teleassistance_erase", citizen_id, " ".join(f"{k}={v}" for k, v in counts.items()))
    flash(t("ta_erased", id=citizen_id), "ok")
    return redirect(url_for("teleassistance.citizens"))


@bp.get("/teleassistance/import")
@auth.require("teleassistance")
def import_page():
    return render_template("teleassistance_import.html", problems=[], columns=COLUMNS)


@bp.post("/teleassistance/import")
@auth.require("teleassistance")
def import_csv():
    upload = request.files.get("file")
    raw = upload.read(MAX_CSV + 1) if upload else b""
    problems: list[str] = []
    if not raw.strip():
        problems = [t("ta_import_empty")]
    elif len(raw) > MAX_CSV:
        problems = [t("ta_import_too_big")]
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems = [t("ta_import_not_utf8")]
        else:
            try:
                count = _store().import_csv(text)
            except CsvError as err:
                problems = err.messages
            except CitizenError as err:  # a number enrolled meanwhile
                problems = [str(p) for p in err.problems]
            else:
                _audit("teleassistance_import", None, f"enrolled={count}")
                flash(t("ta_imported", n=count), "ok")
                return redirect(url_for("teleassistance.citizens"))
    page = render_template("teleassistance_import.html", problems=problems, columns=COLUMNS)
    return page, 422
