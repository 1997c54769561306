"""The operator desk (``/desk``, role operator and up, for a user whose operator account names
them): log in and out of the departments the account serves, pause with a reason and resume,
see who is calling the moment the phone rings (server-sent events, ``/desk/events``), move the
caller to a department or another operator with a note for them, wrap the call up with an
outcome code, book or cancel an appointment for the citizen, search the switchboard directory
and put the caller through to an entry. Every action is audited (never
the caller's number) and the KPI ones go to ``operator_events``/``call_records``."""

from __future__ import annotations

import json
import queue as queue_mod
import re
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from ivr.admin import auth
from ivr.admin.live_view import link_for
from ivr.admin.services import services
from ivr.admin.views.common import city_now, live_dialplan, t
from ivr.asterisk.ami import AMIClient, AMIError
from ivr.asterisk.render import department_codes
from ivr.db import ready
from ivr.desk import actions
from ivr.desk import directory as desk_directory
from ivr.desk.store import CallContexts
from ivr.kpi import desk_events
from ivr.operators.store import Account, rights

bp = Blueprint("desk", __name__)

OUTCOMES = (
    "answered",
    "information",
    "booked",
    "booking_cancelled",
    "transferred",
    "callback_promised",
    "wrong_number",
)
KEEPALIVE_S = 15.0


class NoDesk(Exception):
    """The user has no enabled operator account: no desk (a page says so, not a 403)."""


def _account() -> Account:
    user = auth.current_user()
    account = services().operators().for_user(user.username) if user else None
    if account is None or not account.enabled:
        raise NoDesk()
    return account


@bp.errorhandler(NoDesk)
def _no_desk(_err: NoDesk):
    if request.method == "GET" and request.path == "/desk":
        return render_template("desk.html", account=None), 200
    return "no operator account is linked to this user", 404


def _ami() -> AMIClient:
    connect = services().live_source
    if connect is None:
        raise AMIError("no Asterisk is configured for this admin")
    return link_for(connect).client()


def _audit(action: str, target: str, after: Any = None) -> None:
    with services().sessions.begin() as db:
        auth.audit(db, action, target, None, after)


def _kpi_engine() -> Any:
    return ready(services().settings.database_url)


def _departments(account: Account, dialplan: Any) -> list[dict[str, Any]]:
    """The departments the account serves, each with its queues (and penalties) and code."""
    granted = rights(dialplan, account)
    codes = department_codes(dialplan)
    out = []
    for department, _priority in account.skills:
        dept = dialplan.departments.get(department)
        if dept is None:
            continue
        out.append(
            {
                "id": dept.id,
                "name": dept.names.get(dialplan.default_language) or dept.id,
                "queue": dept.queue,
                "code": codes.get(dept.queue, ""),
                "queues": actions.department_queues(granted, dept.queue, dialplan.languages),
            }
        )
    return out


@bp.get("/desk")
@auth.require("live")
def desk():
    account = _account()
    dialplan = live_dialplan()
    if dialplan is None:
        abort(503)
    departments = _departments(account, dialplan)
    members: dict[str, dict[str, Any]] = {}
    error = ""
    try:
        members = actions.membership(_ami(), account.extension)
    except (OSError, AMIError) as err:
        error = t("desk_asterisk_unreachable", error=str(err))
    for dept in departments:
        dept["in"] = any(q in members for q, _ in dept["queues"])
    paused = next((m for m in members.values() if m["paused"]), None)
    codes = department_codes(dialplan)
    targets = [
        (f"dept:{d.id}", d.names.get(dialplan.default_language) or d.id)
        for d in dialplan.departments.values()
        if d.queue in codes
    ]
    others = [
        a
        for a in services().operators().accounts()
        if a.enabled and a.extension != account.extension
    ]
    targets += [(f"op:{a.extension}", f"{a.name} ({a.extension})") for a in others]
    hub = services().desk_hub()
    card = hub.card(account.extension) if hub else None
    return render_template(
        "desk.html",
        account=account,
        departments=departments,
        paused=paused,
        reasons=actions.PAUSE_REASONS,
        targets=targets,
        outcomes=OUTCOMES,
        error=error,
        card=json.dumps(card.data) if card else "",
        feed=hub is not None,
    )


@bp.get("/desk/events")
@auth.require("live")
def events():
    """Server-sent events: this operator's phone only (the number goes to no other desk)."""
    account = _account()
    hub = services().desk_hub()
    if hub is None:
        abort(503)
    extension = account.extension
    inbox = hub.subscribe(extension)

    def stream() -> Iterator[str]:
        try:
            yield "retry: 1000\n\n"
            while True:
                try:
                    event = inbox.get(timeout=KEEPALIVE_S)
                except queue_mod.Empty:
                    yield ": keepalive\n\n"
                    continue
                data = dict(event.data, sent_at=time.time())
                yield f"event: {event.kind}\ndata: {json.dumps(data)}\n\n"
        finally:
            hub.unsubscribe(extension, inbox)

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # nginx: deliver each event at once
    return response


def _back(message: str = "", category: str = "ok"):
    if message:
        flash(message, category)
    return redirect(url_for("desk.desk"))


def _department(account: Account, dept_id: str) -> dict[str, Any]:
    dialplan = live_dialplan()
    found = next((d for d in _departments(account, dialplan) if d["id"] == dept_id), None)
    if found is None:
        abort(400)
    return found


@bp.post("/desk/login")
@auth.require("live")
def login():
    account = _account()
    dept = _department(account, request.form.get("department", ""))
    try:
        joined = actions.login(_ami(), account.extension, dept["queues"])
    except (OSError, AMIError) as err:
        return _back(t("desk_not_logged_in", error=str(err)), "error")
    for queue in joined:
        desk_events.operator_event(_kpi_engine(), account.extension, "login", queue=queue)
    _audit("desk_login", f"{account.extension} {dept['id']}", {"queues": joined})
    return _back(t("desk_logged_in_to", department=dept["name"]))


@bp.post("/desk/logout")
@auth.require("live")
def logout():
    account = _account()
    dept = _department(account, request.form.get("department", ""))
    queues = [q for q, _ in dept["queues"]]
    try:
        actions.logout(_ami(), account.extension, queues)
    except (OSError, AMIError) as err:
        return _back(t("desk_not_logged_out", error=str(err)), "error")
    for queue in queues:
        desk_events.operator_event(_kpi_engine(), account.extension, "logout", queue=queue)
    _audit("desk_logout", f"{account.extension} {dept['id']}")
    return _back(t("desk_logged_out_of", department=dept["name"]))


@bp.post("/desk/pause")
@auth.require("live")
def pause():
    account = _account()
    reason = request.form.get("reason", "")
    if reason not in actions.PAUSE_REASONS:
        abort(400)
    try:
        actions.pause(_ami(), account.extension, reason)
    except (OSError, AMIError) as err:
        return _back(t("desk_not_paused", error=str(err)), "error")
    desk_events.operator_event(_kpi_engine(), account.extension, "pause", reason=reason)
    _audit("desk_pause", account.extension, {"reason": reason})
    return _back(t("desk_paused", reason=reason))


@bp.post("/desk/resume")
@auth.require("live")
def resume():
    account = _account()
    try:
        actions.unpause(_ami(), account.extension)
    except (OSError, AMIError) as err:
        return _back(t("desk_not_resumed", error=str(err)), "error")
    desk_events.operator_event(_kpi_engine(), account.extension, "unpause")
    _audit("desk_resume", account.extension)
    return _back(t("desk_back_at_work"))


@bp.post("/desk/transfer")
@auth.require("live")
def transfer():
    """Blind transfer of the call this operator has now, with a note for the next desk."""
    account = _account()
    hub = services().desk_hub()
    current = hub.current(account.extension) if hub else None
    if current is None or current.connected_at is None or current.ended_at is not None:
        return _back(t("desk_no_call_to_transfer"), "error")
    target = request.form.get("target", "")
    note = request.form.get("note", "").strip()
    kind, _, value = target.partition(":")
    dialplan = live_dialplan()
    if kind == "dept" and value in dialplan.departments:
        context, exten = (
            "nu-transfer",
            "8" + department_codes(dialplan)[dialplan.departments[value].queue],
        )
    elif kind == "op" and value.isdigit() and services().operators().get(value) is not None:
        context, exten = "nu-operator-dial", value
    else:
        abort(400)
    return _put_through(account, current, target, note, context, exten, shown=target)


def _put_through(
    account: Any,
    current: Any,
    target: str,
    note: str,
    context: str,
    exten: str,
    *,
    shown: str,
    variables: dict[str, str] | None = None,
) -> Any:
    """Every desk transfer: the note beside the call's context, the citizen's channel
    redirected (``variables`` set first), the operator event and the audit entry."""
    settings = services().settings
    if note and settings.redis_url:
        CallContexts(settings.redis_url).add_note(
            current.call_id, account.extension, note, target, time.time()
        )
    try:
        actions.redirect(_ami(), current.channel, context, exten, variables)
    except (OSError, AMIError) as err:
        return _back(t("desk_not_transferred", error=str(err)), "error")
    desk_events.operator_event(
        _kpi_engine(),
        account.extension,
        "transfer",
        queue=current.queue,
        reason=target,
        call_id=current.call_id,
    )
    _audit(
        "desk_transfer",
        f"{account.extension} {current.call_id}",
        {"to": target, "note": bool(note)},
    )
    return _back(t("desk_transferred_to", target=shown))


@bp.post("/desk/wrapup")
@auth.require("live")
def wrapup():
    account = _account()
    outcome = request.form.get("outcome", "")
    if outcome not in OUTCOMES:
        abort(400)
    hub = services().desk_hub()
    current = hub.current(account.extension) if hub else None
    call_id = current.call_id if current else request.form.get("call_id", "")
    if not call_id:
        return _back(t("desk_no_call_to_wrap_up"), "error")
    ended = current.ended_at if current else None
    seconds = round(time.time() - ended, 1) if ended else None
    desk_events.wrapup(_kpi_engine(), call_id, account.extension, outcome, seconds)
    if hub is not None:
        hub.forget(account.extension)
    _audit("desk_wrapup", f"{account.extension} {call_id}", {"outcome": outcome})
    return _back(t("desk_wrapped_up", outcome=outcome))


def _caller() -> tuple[Account, dict[str, Any]]:
    """This operator's current call's context (with the number), or a redirect back."""
    account = _account()
    hub = services().desk_hub()
    current = hub.current(account.extension) if hub else None
    settings = services().settings
    context = (
        CallContexts(settings.redis_url).get(current.call_id)
        if current and settings.redis_url
        else None
    )
    if context is None or not context.get("number"):
        raise _Refused(t("desk_no_caller_number"))
    return account, context


class _Refused(Exception):
    pass


@bp.errorhandler(_Refused)
def _refused(err: _Refused):
    return _back(str(err), "error")


def _booking_service() -> Any:
    from booking.service import BookingService

    dialplan = live_dialplan()
    return BookingService(
        ready(services().settings.database_url),
        lambda: live_dialplan().calendar,
        timezone=dialplan.timezone,
        city_number=dialplan.number,
    )


@bp.get("/desk/slots")
@auth.require("live")
def slots():
    """The first free slots of a service, to book one for the caller."""
    _account()
    service = request.args.get("service", "")
    found = _booking_service().available_slots(service, limit=5) if service else []
    return render_template("desk_slots.html", service=service, slots=found)


@bp.post("/desk/book")
@auth.require("live")
def book():
    from booking.service import BookingError

    account, context = _caller()
    service = request.form.get("service", "")
    slot = request.form.get("slot", "")
    if not slot.isdigit():
        abort(400)
    try:
        booked = _booking_service().book(
            service, int(slot), context["number"], context.get("language") or "it"
        )
    except BookingError as err:
        return _back(t("desk_not_booked", error=err.code), "error")
    _audit("desk_book", f"{account.extension} {context['call_id']}", {"code": booked["code"]})
    return _back(t("desk_booked", code=booked["code"]))


@bp.post("/desk/cancel")
@auth.require("live")
def cancel():
    """Cancel one of the caller's own active bookings (by its code)."""
    from booking.service import BookingError
    from ivr.desk.citizen import citizen
    from ivr.kpi.desk_events import utcnow

    account, context = _caller()
    code = request.form.get("code", "").strip().upper()
    mine = citizen(
        ready(services().settings.database_url),
        number=context["number"],
        hashed=None,
        call_id=context["call_id"],
        now=utcnow(),
    )
    if code not in {b["code"] for b in mine["bookings"]}:
        return _back(t("desk_not_callers_booking"), "error")
    try:
        _booking_service().cancel(code)
    except BookingError as err:
        return _back(t("desk_not_cancelled", error=err.code), "error")
    _audit("desk_cancel", f"{account.extension} {context['call_id']}", {"code": code})
    return _back(t("desk_cancelled", code=code))


@bp.get("/desk/directory")
@auth.require("live")
def directory():
    """The switchboard directory's entries matching ``q`` (enabled only), open or closed now."""
    _account()
    query = request.args.get("q", "").strip()
    dialplan = live_dialplan()
    if dialplan is None:
        abort(503)
    now = city_now(dialplan).replace(tzinfo=None)
    switches = services().live_state.switches()
    rows = services().directory().entries(query, enabled_only=True) if query else []
    results = [
        {
            "id": r.id,
            "name": r.name,
            "department": (
                dialplan.departments[r.department].names.get(dialplan.default_language)
                if r.department in dialplan.departments
                else r.department
            ),
            "open": desk_directory.open_now(r, dialplan, now, switches),
        }
        for r in rows
    ]
    return render_template("desk_directory.html", query=query, results=results)


@bp.post("/desk/directory/transfer")
@auth.require("live")
def directory_transfer():
    """Blind transfer of this operator's call to a directory entry: ``[nu-directory]`` rings it
    and its department's queue takes the caller if nobody answers."""
    account = _account()
    hub = services().desk_hub()
    current = hub.current(account.extension) if hub else None
    if current is None or current.connected_at is None or current.ended_at is not None:
        return _back(t("desk_no_call_to_transfer"), "error")
    entry_id = request.form.get("entry", "")
    store = services().directory()
    row = store.get(int(entry_id)) if entry_id.isdigit() else None
    if row is None:
        return _back(t("desk_entry_unknown"), "error")
    if not row.enabled:
        return _back(t("desk_entry_disabled", name=row.name), "error")
    dialplan = live_dialplan()
    dept = dialplan.departments.get(row.department) if dialplan else None
    if dept is None:
        return _back(t("desk_entry_no_department", name=row.name), "error")
    dial = store.dial_string(row)
    if not dial:
        return _back(t("desk_entry_no_dial", name=row.name), "error")
    note = request.form.get("note", "").strip()
    target = f"dir:{row.id}"
    variables = desk_directory.transfer_variables(dial, dept.queue, dept.id)
    return _put_through(
        account,
        current,
        target,
        note,
        desk_directory.CONTEXT,
        desk_directory.EXTEN,
        shown=row.name,
        variables=variables,
    )


def _call_context(account: Account) -> dict[str, Any] | None:
    """The context of the call this operator has (or had last, until its wrap-up), if any."""
    hub = services().desk_hub()
    current = hub.current(account.extension) if hub else None
    settings = services().settings
    if current is None or not settings.redis_url:
        return None
    return CallContexts(settings.redis_url).get(current.call_id)


def _request_page(form: dict[str, str], problems: dict[str, list[str]], status: int = 200):
    from ivr.backoffice import rules as bo_rules

    categories = services().backoffice().categories()
    page = render_template(
        "desk_request.html",
        form=form,
        errors=problems,
        categories=categories,
        severities=bo_rules.SEVERITIES,
        channels=bo_rules.CHANNELS,
        languages=bo_rules.LANGUAGES,
    )
    response = Response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


REQUEST_FIELDS = (
    "category",
    "severity",
    "description",
    "number",
    "email",
    "channel",
    "language",
    "transcript",
    "call_id",
)


@bp.get("/desk/request")
@auth.require("live")
def new_request():
    """A back-office request for what the call could not solve, pre-filled from the call's
    context: its department's category, the caller's language, number and what they said."""
    from ivr.admin.views.backoffice import context_defaults

    account = _account()
    defaults = context_defaults(_call_context(account))
    categories = services().backoffice().categories()
    form = dict.fromkeys(REQUEST_FIELDS, "")
    form.update(defaults)
    form["category"] = next(
        (c.code for c in categories.values() if c.department == defaults["department"]), ""
    )
    form.update(severity="normal", channel="phone" if defaults["number"] else "email")
    return _request_page(form, {})


@bp.post("/desk/request")
@auth.require("live")
def create_request():
    from ivr.backoffice.rules import NewRequest, RequestError

    account = _account()
    form = {name: request.form.get(name, "").strip()[:4000] for name in REQUEST_FIELDS}
    context = _call_context(account)
    # The call id is the desk's own call while it has one (the form cannot attach another's);
    # after the wrap-up, the one the form was filled in from, if it looks like a uniqueid.
    posted = form["call_id"] if re.fullmatch(r"[0-9A-Za-z.-]{1,40}", form["call_id"]) else ""
    form["call_id"] = str(context.get("call_id") or "") if context else posted
    data = NewRequest(
        category=form["category"],
        description=form["description"],
        severity=form["severity"] or "normal",
        number=form["number"],
        email=form["email"],
        channel=form["channel"] or "phone",
        language=form["language"] or "it",
        source="desk",
        transcript=form["transcript"],
        call_id=form["call_id"],
    )
    user = auth.current_user()
    try:
        created = services().backoffice().create(data, user.username if user else "-")
    except RequestError as err:
        problems: dict[str, list[str]] = {}
        for p in err.problems:
            key = p.field if p.field in REQUEST_FIELDS else "form"
            problems.setdefault(key, []).append(p.message)
        return _request_page(form, problems, 422)
    _audit(
        "desk_backoffice_request",
        f"{account.extension} {form['call_id'] or '-'}",
        {"request": created.id, "merged": created.merged},
    )
    key = "bo_merged_code" if created.merged else "bo_created_code"
    return _back(t(key, code=created.code))
