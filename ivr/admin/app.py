"""The admin web application (``ivr admin``): Flask, server-rendered pages, no external assets.

Every page works without JavaScript (plain forms, keyboard and screen-reader friendly); a small
script in ``static/admin.js`` only adds live validation while typing YAML and the live view's
auto-refresh. Every route declares the permission it needs (``auth.require``); every
state-changing request carries the session's CSRF token; every change is audited.

The draft lives in the database (one shared draft); publishing and rollbacks go through
:class:`~ivr.admin.publish.Publisher`, which is independent of Flask.
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Flask,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ivr import config
from ivr.admin import auth, editing, graph, live_view, prompt_store
from ivr.admin import service_levels as levels
from ivr.admin.db import open_database
from ivr.admin.i18n import LANGUAGES, translate
from ivr.admin.models import ROLES, AuditEntry, DialplanVersion, Draft, Publication, User, utcnow
from ivr.admin.publish import AsteriskTarget, Publisher, check_text, sha256
from ivr.admin.simulate import MAX_EVENTS, simulate
from ivr.flow.actions import DTMF_KEYS
from ivr.flow.calendar import CITY_SWITCH, department_open
from ivr.flow.loader import IDENT
from ivr.flow.model import Dialplan
from ivr.kpi.report import shown
from ivr.live import LiveState, open_state
from ivr.prompts.catalogue import full_catalogue

PACKAGE = Path(__file__).resolve().parent


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


def create_app(
    settings: config.Settings | None = None,
    *,
    target: AsteriskTarget | None = None,
    database_url: str | None = None,
    secret_key: str | None = None,
    live_state: LiveState | None = None,
    synthesizer: Any = None,
    sync_sounds: Callable[[], Any] | None = None,
    login_limiter: auth.LoginLimiter | None = None,
    clock: Callable[[ZoneInfo], datetime] | None = None,
) -> Flask:
    """Build the admin app for ``settings``' city. ``target`` is the Asterisk to publish to
    (None: files only); ``sync_sounds`` copies built audio where Asterisk reads it."""
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
    app.config.update(
        SECRET_KEY=secret_key or _secret_key(settings.var_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="nu_admin",
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSIONS=sessions,
        SETTINGS=settings,
        PUBLISHER=publisher,
        TARGET=target,
        LIVE_STATE=live_state or open_state(settings.redis_url),
        SYNTHESIZER=synthesizer,
        SYNC_SOUNDS=sync_sounds,
        LIMITER=login_limiter or auth.LoginLimiter(),
        CLOCK=clock or (lambda zone: datetime.now(zone)),
        CALL_RECORDS=levels.CallRecords(settings.database_url),
    )
    _register(app)
    return app


# ---------------------------------------------------------------------------------------------
# helpers used by the views


def _db():
    from flask import current_app

    return current_app.config["SESSIONS"]


def _cfg(name: str) -> Any:
    from flask import current_app

    return current_app.config[name]


def t(key: str, /, **kw: Any) -> str:
    return translate(g.get("lang", "it"), key, **kw)


def draft_text() -> str:
    with _db()() as db:
        draft = db.get(Draft, 1)
        return draft.yaml_text if draft else ""


def save_draft(new_text: str, action: str, target: str = "") -> None:
    with _db().begin() as db:
        draft = db.get(Draft, 1)
        if draft is None:
            draft = Draft(id=1, yaml_text="")
            db.add(draft)
        before = draft.yaml_text
        if before == new_text:
            return
        draft.yaml_text = new_text
        draft.updated_by = auth.current_user().username
        draft.updated_at = utcnow()
        auth.audit(db, action, target, before, new_text)


def draft_state() -> tuple[str, Dialplan | None, list]:
    text = draft_text()
    dialplan, issues = check_text(text, _cfg("SETTINGS"))
    return text, dialplan, issues


def live_dialplan() -> Dialplan | None:
    try:
        text = _cfg("PUBLISHER").live_text()
    except OSError:
        return None
    dialplan, _ = check_text(text, _cfg("SETTINGS"), prompts=False)
    return dialplan


def city_now(dialplan: Dialplan | None) -> datetime:
    zone = ZoneInfo(dialplan.timezone if dialplan else "Europe/Rome")
    return _cfg("CLOCK")(zone)


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    out = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=3
    ):
        kind = (
            "meta"
            if line.startswith(("---", "+++", "@@"))
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "ctx"
        )
        out.append((kind, line))
    return out


def _moves() -> list[dict[str, Any]]:
    sim = session.get("sim") or {}
    return list(sim.get("moves", []))


def _languages(dialplan: Dialplan | None) -> list[str]:
    return list(dialplan.languages) if dialplan else ["it", "en"]


# ---------------------------------------------------------------------------------------------


def _register(app: Flask) -> None:  # noqa: C901 - the routes, one after the other
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
    def _headers(response):  # noqa: ANN001, ANN202
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            "form-action 'self'"
        )
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
    def _error(err):  # noqa: ANN001, ANN202
        code = getattr(err, "code", 500)
        message = t("csrf_refused") if getattr(err, "description", "") == "csrf" else ""
        if request.path.startswith("/api/"):
            return jsonify({"error": code, "message": message or str(err)}), code
        return render_template("error.html", code=code, message=message), code

    # -- accounts ---------------------------------------------------------------------------

    @app.route("/login", methods=["GET", "POST"])
    def login():  # noqa: ANN202
        error = ""
        status = 200
        if request.method == "POST":
            username = request.form.get("username", "")[:64].strip()
            password = request.form.get("password", "")[:200]
            ip = auth.client_ip()
            limiter: auth.LoginLimiter = _cfg("LIMITER")
            if limiter.blocked(ip, username):
                error, status = t("too_many_logins"), 429
            else:
                with _db().begin() as db:
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
                            nxt = url_for("home")
                        return redirect(nxt)
                    limiter.failed(ip, username)
                    db.add(AuditEntry(username=username or "-", action="login_failed", ip=ip))
                error, status = t("bad_login"), 401
        return render_template("login.html", error=error), status

    @app.post("/logout")
    def logout():  # noqa: ANN202
        session.clear()
        return redirect(url_for("login"))

    @app.post("/lang")
    def set_language():  # noqa: ANN202
        lang = request.form.get("lang", "")
        if lang in LANGUAGES:
            session["lang"] = lang
            user = auth.current_user()
            if user is not None:
                with _db().begin() as db:
                    row = db.get(User, user.id)
                    row.language = lang
        back = request.form.get("back", "/")
        return redirect(back if back.startswith("/") and not back.startswith("//") else "/")

    @app.get("/")
    @auth.require("live")
    def home():  # noqa: ANN202
        if auth.current_user().role == "operator":
            return redirect(url_for("live"))
        text, dialplan, issues = draft_state()
        publisher: Publisher = _cfg("PUBLISHER")
        with _db()() as db:
            live = publisher.live_version(db)
            last = db.scalars(select(Publication).order_by(Publication.id.desc()).limit(5)).all()
            draft = db.get(Draft, 1)
        try:
            changed = text != publisher.live_text()
        except OSError:
            changed = True
        return render_template(
            "home.html",
            dialplan=dialplan,
            issues=issues,
            live=live,
            publications=last,
            draft=draft,
            changed=changed,
            switches=sorted(_cfg("LIVE_STATE").switches()),
        )

    # -- call flow --------------------------------------------------------------------------

    @app.get("/flow")
    @auth.require("read")
    def flow():  # noqa: ANN202
        text, dialplan, issues = draft_state()
        broken = {i.node for i in issues if i.node}
        picture = (
            graph.svg(
                dialplan, broken, link=url_for("node", node_id="NODE").replace("NODE", "{id}")
            )
            if dialplan
            else ""
        )
        return render_template(
            "flow.html",
            dialplan=dialplan,
            issues=issues,
            picture=picture,
            edges=graph.edges(dialplan) if dialplan else [],
            kinds=editing.CORE_KINDS,
        )

    @app.post("/flow/nodes")
    @auth.require("edit")
    def add_node():  # noqa: ANN202
        node_id = request.form.get("node_id", "")
        try:
            new = editing.add_node(draft_text(), node_id, request.form.get("kind", ""))
        except editing.EditError as err:
            flash(str(err), "error")
            return redirect(url_for("flow"))
        save_draft(new, "node_add", node_id.strip())
        return redirect(url_for("node", node_id=node_id.strip()))

    @app.route("/flow/node/<node_id>", methods=["GET", "POST"])
    @auth.require("read")
    def node(node_id: str):  # noqa: ANN202
        text = draft_text()
        error = ""
        if request.method == "POST":
            if not auth.allowed("edit"):
                abort(403)
            try:
                new = editing.update_node(text, node_id, request.form)
            except editing.EditError as err:
                error = str(err)
            else:
                save_draft(new, "node_edit", node_id)
                flash(t("saved"), "ok")
                return redirect(url_for("node", node_id=node_id))
        try:
            kind, body = editing.node_kind(text, node_id)
        except editing.EditError:
            abort(404)
        _, dialplan, issues = draft_state()
        return render_template(
            "node.html",
            node_id=node_id,
            kind=kind,
            body=body,
            raw=editing.node_yaml(text, node_id),
            core=kind in editing.CORE_KINDS,
            issues=[i for i in issues if i.node == node_id],
            all_issues=issues,
            dialplan=dialplan,
            node_ids=list(dialplan.nodes) if dialplan else [],
            departments=list(dialplan.departments) if dialplan else [],
            languages=_languages(dialplan),
            keys=DTMF_KEYS,
            error=error,
            form=request.form if request.method == "POST" else None,
        )

    @app.post("/flow/node/<node_id>/delete")
    @auth.require("edit")
    def delete_node(node_id: str):  # noqa: ANN202
        try:
            new = editing.delete_node(draft_text(), node_id)
        except editing.EditError as err:
            flash(str(err), "error")
            return redirect(url_for("flow"))
        save_draft(new, "node_delete", node_id)
        flash(t("deleted"), "ok")
        return redirect(url_for("flow"))

    @app.route("/flow/yaml", methods=["GET", "POST"])
    @auth.require("read")
    def yaml_editor():  # noqa: ANN202
        if request.method == "POST":
            if not auth.allowed("edit"):
                abort(403)
            text = request.form.get("yaml", "").replace("\r\n", "\n")
            if request.form.get("base") != sha256(draft_text()):
                flash(t("draft_changed_meanwhile"), "error")
                return render_template(
                    "yaml.html",
                    text=text,
                    issues=check_text(text, _cfg("SETTINGS"))[1],
                    base=sha256(draft_text()),
                ), 409
            save_draft(text, "draft_yaml", "draft")
            flash(t("saved"), "ok")
            return redirect(url_for("yaml_editor"))
        text, _, issues = draft_state()
        return render_template("yaml.html", text=text, issues=issues, base=sha256(text))

    @app.post("/flow/reset")
    @auth.require("edit")
    def reset_draft():  # noqa: ANN202
        save_draft(_cfg("PUBLISHER").live_text(), "draft_reset", "draft")
        flash(t("draft_reset_done"), "ok")
        return redirect(url_for("flow"))

    @app.get("/flow/diff")
    @auth.require("read")
    def diff():  # noqa: ANN202
        text = draft_text()
        live = _cfg("PUBLISHER").live_text()
        return render_template("diff.html", lines=diff_lines(live, text, "live", "draft"))

    @app.post("/api/validate")
    @auth.require("read")
    def api_validate():  # noqa: ANN202
        payload = request.get_json(silent=True) or {}
        text = payload.get("yaml")
        if not isinstance(text, str):
            text = draft_text()
        issues = check_text(text, _cfg("SETTINGS"))[1] if text else []
        return jsonify(
            {
                "ok": not issues and bool(text),
                "issues": [
                    {"line": i.line, "node": i.node, "message": i.message, "text": str(i)}
                    for i in issues
                ],
            }
        )

    # -- simulator --------------------------------------------------------------------------

    @app.get("/simulate")
    @auth.require("simulate")
    def simulator():  # noqa: ANN202
        _, dialplan, issues = draft_state()
        if dialplan is None:
            return render_template("simulate.html", dialplan=None, issues=issues, sim=None)
        settings = _cfg("SETTINGS")
        options = session.get("sim") or {}
        when = options.get("when") or ""
        try:
            now = datetime.fromisoformat(when) if when else city_now(dialplan)
        except ValueError:
            now = city_now(dialplan)
        switches = _cfg("LIVE_STATE").switches() if options.get("live_switches") else frozenset()
        lang = options.get("lang") or None
        if lang not in dialplan.languages:
            lang = None
        try:
            catalogue = full_catalogue(dialplan, settings.prompts_dir)
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
        except Exception as exc:  # noqa: BLE001 - a broken draft is shown, never a 500
            flash(f"{type(exc).__name__}: {exc}", "error")
        return render_template(
            "simulate.html",
            dialplan=dialplan,
            issues=issues,
            sim=sim,
            keys=DTMF_KEYS,
            when=now.strftime("%Y-%m-%dT%H:%M"),
            options=options,
            audio=_audio_exists,
        )

    @app.post("/simulate/start")
    @auth.require("simulate")
    def simulate_start():  # noqa: ANN202
        when = request.form.get("when", "")[:20]
        session["sim"] = {
            "moves": [],
            "when": when if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", when) else "",
            "lang": request.form.get("lang", "")[:5],
            "live_switches": request.form.get("live_switches") == "on",
        }
        return redirect(url_for("simulator") + "#call")

    @app.post("/simulate/move")
    @auth.require("simulate")
    def simulate_move():  # noqa: ANN202
        sim = dict(session.get("sim") or {"moves": []})
        moves = list(sim.get("moves", []))
        kind = request.form.get("t", "")
        if kind not in ("digits", "noinput", "played", "failed", "heard", "result", "fallback"):
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
        return redirect(url_for("simulator") + "#now")

    @app.post("/simulate/undo")
    @auth.require("simulate")
    def simulate_undo():  # noqa: ANN202
        sim = dict(session.get("sim") or {"moves": []})
        sim["moves"] = list(sim.get("moves", []))[:-1]
        session["sim"] = sim
        return redirect(url_for("simulator") + "#now")

    # -- publishing -------------------------------------------------------------------------

    @app.get("/publish")
    @auth.require("read")
    def publish_page():  # noqa: ANN202
        text, dialplan, issues = draft_state()
        live = _cfg("PUBLISHER").live_text()
        return render_template(
            "publish.html",
            issues=issues,
            lines=diff_lines(live, text, "live", "draft"),
            same=live == text,
            base=sha256(text),
            result=session.pop("publish_result", None),
        )

    @app.post("/publish")
    @auth.require("publish")
    def publish():  # noqa: ANN202
        text = draft_text()
        if request.form.get("base") != sha256(text):
            flash(t("draft_changed_meanwhile"), "error")
            return redirect(url_for("publish_page"))
        note = request.form.get("note", "")[:500]
        result = _cfg("PUBLISHER").publish(
            text, auth.current_user().username, note, ip=auth.client_ip()
        )
        session["publish_result"] = _result_dict(result)
        return redirect(url_for("publish_page") + "#result")

    @app.get("/versions")
    @auth.require("read")
    def versions():  # noqa: ANN202
        with _db()() as db:
            live = _cfg("PUBLISHER").live_version(db)
            rows = db.scalars(
                select(DialplanVersion).order_by(DialplanVersion.id.desc()).limit(200)
            ).all()
            pubs = db.scalars(select(Publication).order_by(Publication.id.desc()).limit(200)).all()
        return render_template(
            "versions.html",
            versions=rows,
            live=live,
            publications=pubs,
            result=session.pop("publish_result", None),
        )

    @app.get("/versions/<int:version_id>")
    @auth.require("read")
    def version(version_id: int):  # noqa: ANN202
        with _db()() as db:
            row = db.get(DialplanVersion, version_id)
            if row is None:
                abort(404)
            live = _cfg("PUBLISHER").live_version(db)
        lines = diff_lines(live.yaml_text if live else "", row.yaml_text, "live", f"v{row.id}")
        return render_template("version.html", version=row, live=live, lines=lines)

    @app.post("/versions/<int:version_id>/restore")
    @auth.require("publish")
    def restore(version_id: int):  # noqa: ANN202
        result = _cfg("PUBLISHER").restore(
            version_id, auth.current_user().username, ip=auth.client_ip()
        )
        session["publish_result"] = _result_dict(result)
        return redirect(url_for("versions") + "#result")

    @app.post("/versions/<int:version_id>/edit")
    @auth.require("edit")
    def version_to_draft(version_id: int):  # noqa: ANN202
        with _db()() as db:
            row = db.get(DialplanVersion, version_id)
            if row is None:
                abort(404)
            text = row.yaml_text
        save_draft(text, "draft_from_version", f"version {version_id}")
        flash(t("draft_from_version_done", id=version_id), "ok")
        return redirect(url_for("flow"))

    # -- departments, hours, switches -------------------------------------------------------

    @app.get("/departments")
    @auth.require("read")
    def departments():  # noqa: ANN202
        _, dialplan, issues = draft_state()
        live = live_dialplan()
        switches = _cfg("LIVE_STATE").switches()
        rows = []
        if live is not None:
            now = city_now(live).replace(tzinfo=None)
            for dept in live.departments.values():
                state = department_open(dept, live.calendar, now, switches)
                rows.append((dept, state))
        try:
            catalogue = full_catalogue(live, _cfg("SETTINGS").prompts_dir) if live else {}
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

    @app.route("/departments/<dept_id>", methods=["GET", "POST"])
    @auth.require("read")
    def department(dept_id: str):  # noqa: ANN202
        text, dialplan, issues = draft_state()
        languages = _languages(dialplan)
        error = ""
        if request.method == "POST":
            if not auth.allowed("edit"):
                abort(403)
            try:
                new = editing.update_department(text, dept_id, request.form, languages)
            except editing.EditError as err:
                error = str(err)
            else:
                save_draft(new, "department_edit", dept_id)
                flash(t("saved"), "ok")
                return redirect(url_for("department", dept_id=dept_id))
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
            languages=languages,
            hours=editing.hours_lines(body),
            closures=editing.closure_lines(body),
            issues=[i for i in issues if i.node == dept_id],
            error=error,
            form=request.form if request.method == "POST" else None,
        )

    @app.post("/departments")
    @auth.require("edit")
    def add_department():  # noqa: ANN202
        text, dialplan, _ = draft_state()
        dept_id = request.form.get("dept_id", "")
        try:
            new = editing.add_department(text, dept_id, _languages(dialplan))
        except editing.EditError as err:
            flash(str(err), "error")
            return redirect(url_for("departments"))
        save_draft(new, "department_add", dept_id.strip())
        return redirect(url_for("department", dept_id=dept_id.strip()))

    @app.post("/switches")
    @auth.require("edit")
    def switch():  # noqa: ANN202
        target = request.form.get("target", "")
        on = request.form.get("state") == "on"
        live = live_dialplan()
        known = set(live.departments) if live else set()
        if target != "city" and target not in known:
            abort(400)
        key = CITY_SWITCH if target == "city" else target
        state: LiveState = _cfg("LIVE_STATE")
        before = key in state.switches()
        try:
            state.set_switch(key, on)
        except Exception as exc:  # noqa: BLE001 - Redis down: say so, change nothing
            flash(t("switch_failed", error=str(exc)), "error")
            return redirect(url_for("departments"))
        with _db().begin() as db:
            auth.audit(db, "switch", target, "on" if before else "off", "on" if on else "off")
        flash(t("switch_done", target=target, state=t("on") if on else t("off")), "ok")
        return redirect(url_for("departments") + "#switches")

    # -- prompts ----------------------------------------------------------------------------

    @app.get("/prompts")
    @auth.require("read")
    def prompts():  # noqa: ANN202
        _, dialplan, issues = draft_state()
        languages = _languages(dialplan)
        settings = _cfg("SETTINGS")
        try:
            rows = prompt_store.table(dialplan, Path(settings.prompts_dir), languages)
        except ValueError as err:
            flash(str(err), "error")
            rows = []
        missing = sum(1 for r in rows for lang in languages if r.missing(lang))
        return render_template(
            "prompts.html",
            rows=rows,
            languages=languages,
            missing=missing,
            audio=_audio_exists,
            report=session.pop("build_report", None),
        )

    @app.route("/prompts/<key>", methods=["GET", "POST"])
    @auth.require("read")
    def prompt(key: str):  # noqa: ANN202
        _, dialplan, _ = draft_state()
        languages = _languages(dialplan)
        settings = _cfg("SETTINGS")
        error = ""
        if not prompt_store.KEY.match(key):
            abort(404)
        if request.method == "POST":
            if not auth.allowed("edit"):
                abort(403)
            texts = {lang: request.form.get(f"text_{lang}", "") for lang in languages}
            try:
                changes = prompt_store.set_texts(Path(settings.prompts_dir), key, texts)
            except (prompt_store.PromptError, ValueError) as err:
                error = str(err)
            else:
                if changes:
                    with _db().begin() as db:
                        auth.audit(
                            db,
                            "prompt_edit",
                            key,
                            {lang: old for lang, (old, _) in changes.items()},
                            {lang: new for lang, (_, new) in changes.items()},
                        )
                flash(t("saved"), "ok")
                return redirect(url_for("prompts") + f"#p-{key}")
        rows = {
            r.key: r for r in prompt_store.table(dialplan, Path(settings.prompts_dir), languages)
        }
        row = rows.get(key) or prompt_store.Row(key, {}, set(), False)
        return render_template("prompt.html", row=row, languages=languages, error=error)

    @app.get("/prompts/new")
    @auth.require("edit")
    def prompt_new():  # noqa: ANN202
        key = request.args.get("key", "").strip()
        if not prompt_store.KEY.match(key):
            flash(t("bad_prompt_key"), "error")
            return redirect(url_for("prompts"))
        return redirect(url_for("prompt", key=key))

    @app.post("/prompts/build")
    @auth.require("edit")
    def build_audio():  # noqa: ANN202
        from ivr.prompts.build import build_prompts

        _, dialplan, _ = draft_state()
        dialplan = dialplan or live_dialplan()
        if dialplan is None:
            abort(409)
        settings = _cfg("SETTINGS")
        try:
            report = build_prompts(
                dialplan,
                settings.prompts_dir,
                settings.sounds_dir,
                synthesizer=_cfg("SYNTHESIZER"),
            )
        except ValueError as err:
            flash(str(err), "error")
            return redirect(url_for("prompts"))
        sync = _cfg("SYNC_SOUNDS")
        if sync is not None and (report.built or report.removed):
            sync()
        with _db().begin() as db:
            auth.audit(db, "prompts_build", "audio", None, report.summary())
        session["build_report"] = {
            "summary": report.summary(),
            "failed": dict(list(report.failed.items())[:50]),
            "missing": report.missing[:50],
        }
        return redirect(url_for("prompts") + "#report")

    @app.get("/prompts/audio/<lang>/<key>.wav")
    @auth.require("read")
    def prompt_audio(lang: str, key: str):  # noqa: ANN202
        path = _audio_path(lang, key)
        if path is None or not path.is_file():
            abort(404)
        return send_file(path, mimetype="audio/wav", max_age=0)

    # -- live view --------------------------------------------------------------------------

    def _snapshot() -> live_view.LiveSnapshot:
        target: AsteriskTarget | None = _cfg("TARGET")
        live = live_dialplan()
        labels = {}
        if live is not None:
            lang = g.get("lang", "it")
            for dept in live.departments.values():
                labels.setdefault(dept.queue, dept.names.get(lang) or dept.id)
        return live_view.snapshot(target.ami if target else None, labels)

    @app.get("/live")
    @auth.require("live")
    def live():  # noqa: ANN202
        return render_template(
            "live.html", snap=_snapshot(), switches=sorted(_cfg("LIVE_STATE").switches())
        )

    @app.get("/api/live")
    @auth.require("live")
    def api_live():  # noqa: ANN202
        data = _snapshot().as_dict()
        data["switches"] = sorted(_cfg("LIVE_STATE").switches())
        return jsonify(data)

    # -- service levels ---------------------------------------------------------------------

    @app.get("/service-levels")
    @auth.require("read")
    def service_levels():  # noqa: ANN202
        """The city's calls of a period against the Italian targets (aggregates only)."""
        dialplan = live_dialplan()
        zone = ZoneInfo(dialplan.timezone if dialplan else "Europe/Rome")
        date_from, date_to = request.args.get("from", ""), request.args.get("to", "")
        page = {"date_from": date_from, "date_to": date_to, "report": None, "error": ""}
        page["shown"] = shown  # the text report's formatting: "-" when nothing to measure
        # Rows are named by department id (or queue): show the dialplan's names next to them.
        labels = page["labels"] = {"(ivr only)": t("ivr_only")}
        for dept in dialplan.departments.values() if dialplan else ():
            name = dept.names.get(g.get("lang", "it")) or dept.id
            labels.setdefault(dept.queue, name)
            labels[dept.id] = name
        try:
            first, last = levels.period(
                date_from or None, date_to or None, _cfg("CLOCK")(zone).date()
            )
        except levels.PeriodError as err:
            page["error"] = t(err.key, days=levels.MAX_DAYS)
            return render_template("service_levels.html", **page), 400
        page.update(date_from=first.isoformat(), date_to=last.isoformat(), zone=zone.key)
        try:
            page["report"] = _cfg("CALL_RECORDS").summary(first, last, zone)
        except SQLAlchemyError:
            page["error"] = t("records_unavailable")
            return render_template("service_levels.html", **page), 503
        return render_template("service_levels.html", **page)

    # -- users and audit --------------------------------------------------------------------

    @app.get("/users")
    @auth.require("users")
    def users():  # noqa: ANN202
        with _db()() as db:
            rows = db.scalars(select(User).order_by(User.username)).all()
        return render_template("users.html", users=rows, roles=ROLES)

    @app.post("/users")
    @auth.require("users")
    def create_user():  # noqa: ANN202
        try:
            with _db().begin() as db:
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
        return redirect(url_for("users"))

    @app.post("/users/<int:user_id>")
    @auth.require("users")
    def update_user(user_id: int):  # noqa: ANN202
        me = auth.current_user()
        try:
            with _db().begin() as db:
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
        return redirect(url_for("users"))

    @app.get("/audit")
    @auth.require("users")
    def audit_log():  # noqa: ANN202
        with _db()() as db:
            rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(300)).all()
        return render_template("audit.html", entries=rows, diff_lines=diff_lines)


def _audio_path(lang: str, key: str) -> Path | None:
    if not prompt_store.LANG.match(lang) or not prompt_store.KEY.match(key):
        return None
    return Path(_cfg("SETTINGS").sounds_dir) / lang / f"{key}.wav"


def _audio_exists(lang: str, key: str) -> bool:
    path = _audio_path(lang, key)
    return path is not None and path.is_file()


def _result_dict(result: Any) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "message": result.message,
        "stage": result.stage,
        "version_id": result.version_id,
        "seconds": round(result.seconds, 3),
        "issues": [str(i) for i in result.issues[:100]],
        "changed": result.changed_files,
    }


def valid_id(value: str) -> bool:
    return bool(IDENT.match(value))
