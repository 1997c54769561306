"""The back office's work queue and request pages, for the back office staff (and admins).

The queue is the store's order (SLA deadline, then severity, never arrival), filtered by team,
category and status, overdue requests highlighted, citizens masked; checked requests are
assigned together or not at all. A request's page shows what the citizen said (description,
transcript, the voice message), its history, and lets staff move it along its statuses, write
the answer the phone reads back, answer by SMS/e-mail through the outbox, or **call the citizen
back** in one click: their own softphone rings first, then Asterisk dials the citizen
(:mod:`ivr.backoffice.callback`), and the attempt's outcome lands in the history.

Audit entries carry request ids only; numbers, addresses and texts stay in the request row.
Export (a data-access request) is a no-store JSON download; erasure needs a ticked
confirmation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from ivr.admin import auth
from ivr.admin.services import services
from ivr.admin.views.common import t
from ivr.asterisk.ami import AMIError
from ivr.asterisk.dial import dial_string
from ivr.backoffice import callback, rules, spool
from ivr.backoffice.rules import RequestError
from ivr.backoffice.store import BackofficeStore, RequestView
from ivr.logs import mask_number

bp = Blueprint("backoffice", __name__)

RECORDING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,115}\.(wav|mp3|ogg|gsm)$")
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "gsm": "audio/gsm"}


def _store() -> BackofficeStore:
    return services().backoffice()


def _audit(action: str, target: str, after: str | None = None) -> None:
    """Who did what to which requests: ids, never what the citizen wrote or their contacts."""
    with services().sessions.begin() as db:
        auth.audit(db, action, target, None, after)


def _actor() -> str:
    user = auth.current_user()
    return user.username if user else "-"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _existing(request_id: int) -> RequestView:
    found = _store().get(request_id)
    if found is None:
        abort(404)
    return found


def _problems(err: RequestError) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in err.problems)


def masked_contact(row: RequestView) -> str:
    """The citizen as a list shows them: the number masked, or the e-mail's domain only."""
    if row.number:
        return mask_number(row.number)
    if row.email:
        return "…@" + row.email.rpartition("@")[2]
    return "–"


def recordings_dir() -> Path:
    """The folder the IVR records voice messages into (``leave_request``), as we see it. Only
    a request's own audio file is ever served from it (the spool holds other files)."""
    return spool.folder(services().settings)


def _recording(row: RequestView) -> Path | None:
    if not row.recording or not RECORDING.match(row.recording):
        return None
    path = recordings_dir() / row.recording
    return path if path.is_file() else None


@bp.get("/backoffice")
@auth.require("back_office")
def queue():
    team = request.args.get("team", "").strip()[:40]
    category = request.args.get("category", "").strip()[:40]
    status = request.args.get("status", "")
    statuses = (status,) if status in rules.STATUSES else rules.OPEN
    store = _store()
    now = store.clock()
    categories = store.categories(active_only=False)
    rows = [
        {
            "id": r.id,
            "code": r.code,
            "category": categories[r.category].name if r.category in categories else r.category,
            "severity": r.severity,
            "due_at": r.due_at,
            "overdue": r.overdue(now),
            "status": r.status,
            "team": r.team,
            "assignee": r.assignee,
            "source": r.source,
            "citizen": masked_contact(r),
            "callable": bool(r.number),
        }
        for r in store.queue(team=team, category=category, statuses=statuses)
    ]
    page = render_template(
        "backoffice_queue.html",
        rows=rows,
        team=team,
        category=category,
        status=status if status in rules.STATUSES else "",
        categories=categories,
        statuses=rules.STATUSES,
    )
    return _no_store(Response(page))


@bp.post("/backoffice/assign")
@auth.require("back_office")
def assign():
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    team = request.form.get("team", "")[:40]
    assignee = request.form.get("assignee", "")[:64]
    try:
        count = _store().assign(ids, team, assignee, _actor())
    except RequestError as err:
        flash(t("bo_not_assigned", problems=_problems(err)), "error")
    else:
        _audit("backoffice_assign", "requests " + ",".join(str(i) for i in sorted(set(ids))))
        flash(t("bo_assigned", n=count), "ok")
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/backoffice") else url_for("backoffice.queue"))


@bp.get("/backoffice/<int:request_id>")
@auth.require("back_office")
def detail(request_id: int):
    row = _existing(request_id)
    store = _store()
    categories = store.categories(active_only=False)
    page = render_template(
        "backoffice_request.html",
        r=row,
        category=categories.get(row.category),
        overdue=row.overdue(store.clock()),
        history=store.history(request_id),
        moves=[s for s in rules.STATUSES if rules.can_move(row.status, s)],
        recording=_recording(row) is not None,
        can_call=bool(row.number),
    )
    return _no_store(Response(page))


def _back(request_id: int, message: str, category: str = "ok"):
    flash(message, category)
    return redirect(url_for("backoffice.detail", request_id=request_id))


@bp.post("/backoffice/<int:request_id>/status")
@auth.require("back_office")
def status(request_id: int):
    _existing(request_id)
    to = request.form.get("status", "")
    try:
        _store().move(request_id, to, _actor(), request.form.get("note", "")[:500])
    except RequestError as err:
        return _back(request_id, t("bo_not_moved", problems=_problems(err)), "error")
    _audit("backoffice_status", f"request {request_id}", to if to in rules.STATUSES else None)
    return _back(request_id, t("bo_moved", status=t("bo_status_" + to)))


@bp.post("/backoffice/<int:request_id>/answer")
@auth.require("back_office")
def answer(request_id: int):
    _existing(request_id)
    try:
        _store().set_answer(request_id, request.form.get("answer", ""), _actor())
    except RequestError as err:
        return _back(request_id, t("bo_not_saved", problems=_problems(err)), "error")
    _audit("backoffice_answer", f"request {request_id}")
    return _back(request_id, t("bo_answer_saved"))


@bp.post("/backoffice/<int:request_id>/message")
@auth.require("back_office")
def message(request_id: int):
    _existing(request_id)
    channel = request.form.get("channel", "")
    try:
        _store().send_message(request_id, channel, request.form.get("text", "")[:4000], _actor())
    except RequestError as err:
        return _back(request_id, t("bo_not_sent", problems=_problems(err)), "error")
    _audit("backoffice_message", f"request {request_id}", channel)
    return _back(request_id, t("bo_sent", channel=channel))


@bp.post("/backoffice/<int:request_id>/call")
@auth.require("back_office")
def call(request_id: int):
    """Click-to-call: the staff member's softphone first, then the citizen (see the module)."""
    row = _existing(request_id)
    admin = services()
    settings = admin.settings
    template = settings.callback_dial or settings.teleassistance_dial
    if not template:
        return _back(request_id, t("bo_call_no_dial"), "error")
    if not row.number:
        return _back(request_id, t("bo_call_no_number"), "error")
    user = auth.current_user()
    account = admin.operators().for_user(user.username) if user else None
    if account is None or not account.enabled:
        return _back(request_id, t("bo_call_no_phone"), "error")
    try:
        dial = dial_string(template, row.number)
    except ValueError:
        return _back(request_id, t("bo_call_no_dial"), "error")
    if admin.live_source is None:
        return _back(request_id, t("bo_call_failed", error="no Asterisk"), "error")
    store, actor = _store(), _actor()

    def record(outcome: str) -> None:
        if outcome in (callback.STAFF_NO_ANSWER, callback.UNKNOWN):
            return  # the citizen was not (surely) dialled: no contact (the log line says so)
        store.contact_attempt(request_id, "phone", outcome, actor, f"from {account.extension}")

    try:
        callback.place(
            admin.live_source,
            request_id=request_id,
            code=row.code,
            extension=account.extension,
            dial=dial,
            ring_s=settings.callback_ring_s,
            record=record,
        )
    except (OSError, AMIError) as err:
        return _back(request_id, t("bo_call_failed", error=str(err)), "error")
    _audit("backoffice_call", f"request {request_id}", account.extension)
    return _back(request_id, t("bo_call_ringing", extension=account.extension))


@bp.get("/backoffice/<int:request_id>/recording/<name>")
@auth.require("back_office")
def recording(request_id: int, name: str):
    """The request's own voice message: the name must be the request's and a plain file name."""
    row = _existing(request_id)
    if name != row.recording:
        abort(404)
    path = _recording(row)
    if path is None:
        abort(404)
    kind = AUDIO_TYPES[name.rpartition(".")[2]]
    return _no_store(send_file(path, mimetype=kind, conditional=True))


@bp.get("/backoffice/<int:request_id>/export")
@auth.require("back_office")
def export(request_id: int):
    """Everything held about one request (a data-access request), as a JSON download."""
    _existing(request_id)
    found = _store().export(request_id)
    _audit("backoffice_export", f"request {request_id}")
    response = Response(
        json.dumps(found, ensure_ascii=False, indent=2), mimetype="application/json"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="backoffice-request-{request_id}.json"'
    )
    return _no_store(response)


@bp.post("/backoffice/<int:request_id>/erase")
@auth.require("back_office")
def erase(request_id: int):
    """The right to erasure: the request and its history, once the confirmation is ticked."""
    row = _existing(request_id)
    if request.form.get("confirm") != "on":
        return _back(request_id, t("bo_erase_confirm"), "error")
    _store().erase(request_id)
    settings = services().settings
    # the answer was spoken where the IVR writes sounds: the sync folder when there is one
    folders = {settings.sounds_dir, settings.asterisk_sounds_sync_dir} - {"", None}
    for sounds in folders:
        spool.erase_files(recordings_dir(), Path(sounds), request_id, row.recording)
    _audit("backoffice_erase", f"request {request_id}")
    flash(t("bo_erased", id=request_id), "ok")
    return redirect(url_for("backoffice.queue"))


def context_defaults(context: dict[str, Any] | None) -> dict[str, str]:
    """A new request's form as the desk fills it from the call's context (``None``: blank)."""
    context = context or {}
    said = context.get("said") or ""
    return {
        "department": str(context.get("department") or ""),
        "language": str(context.get("language") or "it"),
        "number": str(context.get("number") or ""),
        "description": said,
        "transcript": said,
        "call_id": str(context.get("call_id") or ""),
    }
