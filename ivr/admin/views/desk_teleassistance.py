"""The teleassistance desk (``/teleassistance/desk``, ``CAN["teleassistance"]``: the
teleassistance staff and admins): open alarms first (the third missed week: age, the citizen's
sheet and emergency contacts, closed with an outcome and notes), then the citizen on the
operator's phone now, then the day's courtesy calls with each one's outcome form.

The call on the phone is the desk hub's (:mod:`ivr.desk.hub`): the citizen's channel carries
``NU_TA_CALL`` (the week call's id) in AMI's channel variables, so the ringing event names the
week call and its sheet opens here. Alarms raised meanwhile appear without a reload: the page's
script polls ``/teleassistance/desk/live`` every few seconds (a short poll of an HTML fragment,
replaced only when the open alarms or the call change, so typed notes stay). A banner says
when no courtesy call goes out (``NU_TELEASSISTANCE_DIAL`` empty, or outside
``NU_TELEASSISTANCE_HOURS``). The audit carries ids only; nothing is logged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from ivr.admin import auth
from ivr.admin.services import services
from ivr.admin.views import desk as desk_view
from ivr.admin.views.common import city_now, live_dialplan, t
from ivr.asterisk.ami import AMIError
from ivr.db import ready
from ivr.desk import actions
from ivr.kpi import desk_events
from ivr.operators.store import Account
from ivr.teleassistance.desk_store import DeskError, DeskStore, no_calls_now
from ivr.teleassistance.models import DESK_OUTCOMES

bp = Blueprint("tadesk", __name__)

POLL_MS = 3000
# NU_REASON of a teleassistance citizen in the queue ([nu-teleassistance]): an operator call,
# or a citizen who pressed 2 on an automatic call to ask for an operator.
REASONS = ("teleassistance_call", "teleassistance_help")


def _store() -> DeskStore:
    """The desk's store on the city's local clock (the weekly calls' times are local)."""
    zone = city_now(live_dialplan()).tzinfo
    admin = services()
    return DeskStore(
        ready(admin.settings.database_url),
        clock=lambda: admin.clock(zone).replace(tzinfo=None),
    )


def _audit(action: str, target: str) -> None:
    """Who did what to which alarm or call: ids, never the notes or the outcome's details."""
    with services().sessions.begin() as db:
        auth.audit(db, action, target, None, None)


def _account() -> Account | None:
    """The operator account whose desk this user has (for the call on their phone), if any."""
    user = auth.current_user()
    account = services().operators().for_user(user.username) if user else None
    return account if account is not None and account.enabled else None


def age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _live(account: Account | None) -> dict[str, Any]:
    """What the poll refreshes: the open alarms and the citizen on this operator's phone."""
    store = _store()
    alarms = store.open_alarms()
    current = None
    hub = services().desk_hub() if account is not None else None
    on_phone = hub.current(account.extension) if hub and account else None
    reason = ""
    if on_phone is not None and on_phone.ta_call is not None:
        current = store.call(on_phone.ta_call)
        card = hub.card(account.extension) if hub and account else None
        if card is not None and card.data.get("ta_call") == on_phone.ta_call:
            reason = str(card.data.get("reason") or "")
    reason = reason if reason in REASONS else ""
    # What the page's script compares: the open alarms, the call and why (the ring's reason
    # may reach the hub a moment after the call itself).
    shown = f"{current[0].id}:{reason}" if current else ""
    signature = ",".join(str(a.id) for a in alarms) + "|" + shown
    return {
        "alarms": alarms,
        "current": current,
        "reason": reason,
        "signature": signature,
        "outcomes": DESK_OUTCOMES,
        "age": age,
    }


def _department(account: Account) -> dict[str, Any] | None:
    """The teleassistance department (``NU_TELEASSISTANCE_DEPARTMENT``) as this account
    serves it (its queues and code), None when it does not serve it."""
    dialplan = live_dialplan()
    if dialplan is None:
        return None
    wanted = services().settings.teleassistance_department
    found = desk_view._departments(account, dialplan)
    return next((d for d in found if d["id"] == wanted), None)


@bp.get("/teleassistance/desk")
@auth.require("teleassistance")
def desk():
    settings = services().settings
    dialplan = live_dialplan()
    now = city_now(dialplan)
    account = _account()
    department, logged_in, error = None, None, ""
    if account is not None:
        department = _department(account)
        if department is not None and services().live_source is not None:
            try:
                members = actions.membership(desk_view._ami(), account.extension)
                logged_in = any(q in members for q, _ in department["queues"])
            except (OSError, AMIError) as err:
                error = t("desk_asterisk_unreachable", error=str(err))
    return render_template(
        "tadesk.html",
        banner=no_calls_now(
            settings.teleassistance_dial, settings.teleassistance_hours, now.time()
        ),
        hours=settings.teleassistance_hours,
        calls=_store().today(now.date()),
        day=now.date(),
        account=account,
        department=department,
        department_id=settings.teleassistance_department,
        logged_in=logged_in,
        error=error,
        poll_ms=POLL_MS,
        **_live(account),
    )


@bp.get("/teleassistance/desk/live")
@auth.require("teleassistance")
def live():
    """The alarms and the current call, as the page's fragment (the page's script polls)."""
    return render_template("tadesk_live.html", **_live(_account()))


def _back(message: str, category: str = "ok", call_id: int | None = None):
    flash(message, category)
    if call_id is not None:
        return redirect(url_for("tadesk.call", call_id=call_id))
    return redirect(url_for("tadesk.desk"))


def _refused(err: DeskError, call_id: int | None = None):
    field = t("tadesk_field_" + err.field)
    message = t("tadesk_error_" + err.code, **err.params)
    return _back(t("tadesk_refused", field=field, message=message), "error", call_id)


@bp.post("/teleassistance/desk/alarms/<int:alarm_id>/close")
@auth.require("teleassistance")
def close_alarm(alarm_id: int):
    user = auth.current_user()
    form = request.form
    try:
        card = _store().close_alarm(
            alarm_id, form.get("outcome", ""), form.get("notes", ""), user.username
        )
    except DeskError as err:
        return _refused(err)
    _audit("tadesk_alarm_close", f"alarm {alarm_id} citizen {card.sheet.citizen_id}")
    return _back(t("tadesk_alarm_closed", id=alarm_id))


@bp.get("/teleassistance/desk/calls/<int:call_id>")
@auth.require("teleassistance")
def call(call_id: int):
    found = _store().call(call_id)
    if found is None:
        abort(404)
    shown, sheet = found
    return render_template("tadesk_call.html", call=shown, citizen=sheet, outcomes=DESK_OUTCOMES)


@bp.post("/teleassistance/desk/calls/<int:call_id>/outcome")
@auth.require("teleassistance")
def outcome(call_id: int):
    user = auth.current_user()
    form = request.form
    back = call_id if form.get("back") == "call" else None
    try:
        _store().record_outcome(
            call_id, form.get("outcome", ""), form.get("notes", ""), user.username
        )
    except DeskError as err:
        return _refused(err, back)
    _audit("tadesk_call_outcome", f"call {call_id}")
    return _back(t("tadesk_outcome_saved", id=call_id), "ok", back)


def _membership(login: bool):
    account = _account()
    department = _department(account) if account is not None else None
    if account is None or department is None:
        department_id = services().settings.teleassistance_department
        return _back(t("tadesk_not_serving", department=department_id), "error")
    queues = department["queues"]
    try:
        if login:
            joined = actions.login(desk_view._ami(), account.extension, queues)
        else:
            actions.logout(desk_view._ami(), account.extension, [q for q, _ in queues])
            joined = [q for q, _ in queues]
    except (OSError, AMIError) as err:
        key = "desk_not_logged_in" if login else "desk_not_logged_out"
        return _back(t(key, error=str(err)), "error")
    for queue in joined:
        desk_events.operator_event(
            ready(services().settings.database_url),
            account.extension,
            "login" if login else "logout",
            queue=queue,
        )
    action = "tadesk_login" if login else "tadesk_logout"
    _audit(action, f"{account.extension} {department['id']}")
    key = "desk_logged_in_to" if login else "desk_logged_out_of"
    return _back(t(key, department=department["name"]))


@bp.post("/teleassistance/desk/login")
@auth.require("teleassistance")
def login():
    """Log this operator's phone in to the teleassistance department's queues (the citizens
    of operator calls wait there)."""
    return _membership(True)


@bp.post("/teleassistance/desk/logout")
@auth.require("teleassistance")
def logout():
    return _membership(False)
