"""Broadcasts to enrolled citizens, for the teleassistance staff (and admins): create one (a
message per language the recipients speak, the areas, the day and window), see each
broadcast's delivery counts and its deliveries (citizens by id and masked number), cancel.

A refused form is shown again with each problem beside its field and nothing written. Once
created, every language's text is spoken into audio by the prompts' pipeline
(:mod:`ivr.teleassistance.broadcast_audio`) — or a language's uploaded recording (a WAV, within
the admin's 1 MB request limit) is converted and checked by the same pipeline — and copied
where Asterisk reads it; only then may the ``outbound`` process dial it. Audio that cannot be
built cancels the broadcast, said so. Audited by the broadcast's id only (the areas and texts
stay in the broadcast's own row).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from ivr.admin import auth
from ivr.admin.services import services
from ivr.admin.views.common import city_now, live_dialplan, t
from ivr.callbacks.models import LANGUAGES
from ivr.teleassistance.broadcast_audio import build_broadcast_audio, recording_problems
from ivr.teleassistance.broadcast_models import BROADCAST_KINDS, DELIVERY_STATES
from ivr.teleassistance.broadcast_rules import BroadcastData
from ivr.teleassistance.broadcasts import BroadcastError, BroadcastStore, BroadcastView
from ivr.teleassistance.rules import Problem

bp = Blueprint("broadcasts", __name__)

FIELDS = (
    "kind",
    "title",
    "areas",
    "day",
    "window",
    *(f"text_{lang}" for lang in LANGUAGES),
    *(f"audio_{lang}" for lang in LANGUAGES),
)


def _store() -> BroadcastStore:
    """The broadcasts on the city's local clock: windows are typed, and dialled, in its time
    (the ``outbound`` process's clock), whatever the host's zone."""
    zone = city_now(live_dialplan()).tzinfo
    admin = services()
    return admin.broadcasts(clock=lambda: admin.clock(zone).replace(tzinfo=None))


def _audit(action: str, broadcast_id: int, after: str | None = None) -> None:
    with services().sessions.begin() as db:
        auth.audit(db, action, f"broadcast {broadcast_id}", None, after)


def _errors(problems: list[Problem]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        found[problem.field if problem.field in FIELDS else "form"].append(problem.message)
    return dict(found)


def _no_store(page: Any, status: int = 200) -> Response:
    response = Response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_page(typed: dict[str, Any], errors: dict[str, list[str]], status: int = 200) -> Any:
    return _no_store(
        render_template(
            "broadcast_new.html",
            form=typed,
            errors=errors,
            kinds=BROADCAST_KINDS,
            areas=_store().areas(),
            languages=LANGUAGES,
            hours=services().settings.teleassistance_hours,
        ),
        status,
    )


def _existing(broadcast_id: int) -> BroadcastView:
    found = _store().get(broadcast_id)
    if found is None:
        abort(404)
    return found


@bp.get("/broadcasts")
@auth.require("teleassistance")
def broadcasts():
    return _no_store(
        render_template("broadcasts.html", rows=_store().broadcasts(), states=DELIVERY_STATES)
    )


@bp.get("/broadcasts/new")
@auth.require("teleassistance")
def new():
    store = _store()
    typed: dict[str, Any] = dict.fromkeys(FIELDS, "")
    typed.update(kind="heat_wave", areas=[], day=store.clock().date().isoformat())
    typed["window"] = services().settings.teleassistance_hours
    return _form_page(typed, {})


@bp.post("/broadcasts/new")
@auth.require("teleassistance")
def create():
    form = request.form
    typed: dict[str, Any] = {name: form.get(name, "").strip() for name in FIELDS}
    typed["areas"] = form.getlist("areas")
    recordings: dict[str, bytes] = {}
    problems: list[Problem] = []
    for lang in LANGUAGES:
        upload = request.files.get(f"audio_{lang}")
        wav = upload.read() if upload else b""
        if wav:
            recordings[lang] = wav
            problems += [Problem(f"audio_{lang}", m) for m in recording_problems(wav)]
    data = BroadcastData(
        kind=typed["kind"],
        title=typed["title"],
        areas=tuple(typed["areas"]),
        day=typed["day"],
        window=typed["window"],
        texts={lang: typed[f"text_{lang}"] for lang in LANGUAGES if typed[f"text_{lang}"]},
        recorded=frozenset(recordings),
    )
    user = auth.current_user()
    store = _store()
    try:
        problems += store.problems(data)
        if problems:
            raise BroadcastError(problems)
        broadcast_id = store.create(data, user.username if user else "-")
    except BroadcastError as err:
        return _form_page(typed, _errors(err.problems), 422)
    admin = services()
    view = store.get(broadcast_id)
    assert view is not None
    report = build_broadcast_audio(
        broadcast_id,
        view.texts,
        admin.settings.sounds_dir,
        synthesizer=admin.synthesizer,
        recordings=recordings,
    )
    if report.failed:
        store.cancel(broadcast_id, user.username if user else "-")
        _audit("broadcast_create", broadcast_id, "audio failed: cancelled")
        reasons = "; ".join(f"{name}: {why}" for name, why in report.failed.items())
        flash(t("bc_audio_failed", id=broadcast_id, reasons=reasons), "error")
        return redirect(url_for("broadcasts.broadcast", broadcast_id=broadcast_id))
    if admin.sync_sounds is not None:
        admin.sync_sounds()
    store.audio_built(broadcast_id)
    _audit("broadcast_create", broadcast_id, f"recipients={view.recipients}")
    flash(t("bc_created", id=broadcast_id, n=view.recipients), "ok")
    return redirect(url_for("broadcasts.broadcast", broadcast_id=broadcast_id))


@bp.get("/broadcasts/<int:broadcast_id>")
@auth.require("teleassistance")
def broadcast(broadcast_id: int):
    view = _existing(broadcast_id)
    return _no_store(
        render_template(
            "broadcast.html",
            b=view,
            deliveries=_store().deliveries(broadcast_id),
            states=DELIVERY_STATES,
        )
    )


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@auth.require("teleassistance")
def cancel(broadcast_id: int):
    _existing(broadcast_id)
    user = auth.current_user()
    try:
        _store().cancel(broadcast_id, user.username if user else "-")
    except BroadcastError as err:
        flash("; ".join(p.message for p in err.problems), "error")
        return redirect(url_for("broadcasts.broadcast", broadcast_id=broadcast_id))
    _audit("broadcast_cancel", broadcast_id)
    flash(t("bc_cancelled", id=broadcast_id), "ok")
    return redirect(url_for("broadcasts.broadcast", broadcast_id=broadcast_id))
