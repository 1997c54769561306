"""Test calls in the browser: the real engine on the draft, one move (keys, silence, a prompt
heard or failed, words, a service's answer) per form. The session keeps only the options and the
moves, replayed from the start on every page (:mod:`ivr.admin.simulate` says why)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from ivr.admin import auth
from ivr.admin.services import services
from ivr.admin.simulate import MAX_EVENTS, simulate
from ivr.admin.views.common import audio_exists, city_now, draft_state
from ivr.flow.actions import DTMF_KEYS
from ivr.prompts.catalogue import full_catalogue

bp = Blueprint("simulator", __name__)

MOVES = (
    "digits",
    "noinput",
    "played",
    "failed",
    "heard",
    "recorded",
    "norecord",
    "result",
    "fallback",
)


def _moves() -> list[dict[str, Any]]:
    sim = session.get("sim") or {}
    return list(sim.get("moves", []))


@bp.get("/simulate")
@auth.require("simulate")
def simulator():
    _, dialplan, issues = draft_state()
    if dialplan is None:
        return render_template("simulate.html", dialplan=None, issues=issues, sim=None)
    admin = services()
    options = session.get("sim") or {}
    when = options.get("when") or ""
    try:
        now = datetime.fromisoformat(when) if when else city_now(dialplan)
    except ValueError:
        now = city_now(dialplan)
    switches = admin.live_state.switches() if options.get("live_switches") else frozenset()
    lang = options.get("lang") or None
    if lang not in dialplan.languages:
        lang = None
    try:
        catalogue = full_catalogue(dialplan, admin.settings.prompts_dir)
    except (OSError, ValueError):
        catalogue = {}
    sim = None
    try:
        sim = simulate(
            dialplan,
            _moves(),
            now=now.replace(tzinfo=None),
            switches=frozenset(switches),
            language=lang,
            catalogue=catalogue,
        )
    except Exception as exc:  # a broken draft is shown, never a 500
        flash(f"{type(exc).__name__}: {exc}", "error")
    return render_template(
        "simulate.html",
        dialplan=dialplan,
        issues=issues,
        sim=sim,
        keys=DTMF_KEYS,
        when=now.strftime("%Y-%m-%dT%H:%M"),
        options=options,
        audio=audio_exists,
    )


@bp.post("/simulate/start")
@auth.require("simulate")
def simulate_start():
    when = request.form.get("when", "")[:20]
    session["sim"] = {
        "moves": [],
        "when": when if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", when) else "",
        "lang": request.form.get("lang", "")[:5],
        "live_switches": request.form.get("live_switches") == "on",
    }
    return redirect(url_for("simulator.simulator") + "#call")


@bp.post("/simulate/move")
@auth.require("simulate")
def simulate_move():
    sim = dict(session.get("sim") or {"moves": []})
    moves = list(sim.get("moves", []))
    kind = request.form.get("t", "")
    if kind not in MOVES:
        abort(400)
    move: dict[str, Any] = {"t": kind}
    value = request.form.get("v", "")[:500]
    if kind == "digits":
        value = "".join(c for c in value if c in DTMF_KEYS)[:20]
    if value:
        move["v"] = value
    if kind == "result" and request.form.get("e"):
        move["e"] = request.form.get("e", "")[:40]
    if len(moves) < MAX_EVENTS:
        moves.append(move)
    sim["moves"] = moves
    session["sim"] = sim
    return redirect(url_for("simulator.simulator") + "#now")


@bp.post("/simulate/undo")
@auth.require("simulate")
def simulate_undo():
    sim = dict(session.get("sim") or {"moves": []})
    sim["moves"] = list(sim.get("moves", []))[:-1]
    session["sim"] = sim
    return redirect(url_for("simulator.simulator") + "#now")
