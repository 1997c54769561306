"""Prompts: every text the draft can play, per language (missing ones marked), editing a
prompt's texts (``prompts/<lang>.yaml``, audited), building the audio and listening to it.

After a build that changed anything, the audio is copied where Asterisk reads it when the app
was given a way to (:attr:`~ivr.admin.services.AdminServices.sync_sounds`)."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)

from ivr.admin import auth, prompt_store
from ivr.admin.services import services
from ivr.admin.views.common import (
    audio_exists,
    audio_path,
    draft_state,
    languages,
    live_dialplan,
    t,
)

bp = Blueprint("prompts", __name__)


@bp.get("/prompts")
@auth.require("read")
def prompts():
    _, dialplan, issues = draft_state()
    langs = languages(dialplan)
    try:
        rows = prompt_store.table(dialplan, Path(services().settings.prompts_dir), langs)
    except ValueError as err:
        flash(str(err), "error")
        rows = []
    missing = sum(1 for r in rows for lang in langs if r.missing(lang))
    return render_template(
        "prompts.html",
        rows=rows,
        languages=langs,
        missing=missing,
        audio=audio_exists,
        report=session.pop("build_report", None),
    )


@bp.route("/prompts/<key>", methods=["GET", "POST"])
@auth.require("read")
def prompt(key: str):
    _, dialplan, _ = draft_state()
    langs = languages(dialplan)
    admin = services()
    prompts_dir = Path(admin.settings.prompts_dir)
    error = ""
    if not prompt_store.KEY.match(key):
        abort(404)
    if request.method == "POST":
        if not auth.allowed("edit"):
            abort(403)
        texts = {lang: request.form.get(f"text_{lang}", "") for lang in langs}
        try:
            changes = prompt_store.set_texts(prompts_dir, key, texts)
        except (prompt_store.PromptError, ValueError) as err:
            error = str(err)
        else:
            if changes:
                with admin.sessions.begin() as db:
                    auth.audit(
                        db,
                        "prompt_edit",
                        key,
                        {lang: old for lang, (old, _) in changes.items()},
                        {lang: new for lang, (_, new) in changes.items()},
                    )
            flash(t("saved"), "ok")
            return redirect(url_for("prompts.prompts") + f"#p-{key}")
    rows = {r.key: r for r in prompt_store.table(dialplan, prompts_dir, langs)}
    row = rows.get(key) or prompt_store.Row(key, {}, set(), False)
    return render_template("prompt.html", row=row, languages=langs, error=error)


@bp.get("/prompts/new")
@auth.require("edit")
def prompt_new():
    key = request.args.get("key", "").strip()
    if not prompt_store.KEY.match(key):
        flash(t("bad_prompt_key"), "error")
        return redirect(url_for("prompts.prompts"))
    return redirect(url_for("prompts.prompt", key=key))


@bp.post("/prompts/build")
@auth.require("edit")
def build_audio():
    from ivr.prompts.build import build_prompts

    _, dialplan, _ = draft_state()
    dialplan = dialplan or live_dialplan()
    if dialplan is None:
        abort(409)
    admin = services()
    try:
        report = build_prompts(
            dialplan,
            admin.settings.prompts_dir,
            admin.settings.sounds_dir,
            synthesizer=admin.synthesizer,
        )
    except ValueError as err:
        flash(str(err), "error")
        return redirect(url_for("prompts.prompts"))
    if admin.sync_sounds is not None and (report.built or report.removed):
        admin.sync_sounds()
    with admin.sessions.begin() as db:
        auth.audit(db, "prompts_build", "audio", None, report.summary())
    session["build_report"] = {
        "summary": report.summary(),
        "failed": dict(list(report.failed.items())[:50]),
        "missing": report.missing[:50],
    }
    return redirect(url_for("prompts.prompts") + "#report")


@bp.get("/prompts/audio/<lang>/<key>.wav")
@auth.require("read")
def prompt_audio(lang: str, key: str):
    path = audio_path(lang, key)
    if path is None or not path.is_file():
        abort(404)
    return send_file(path, mimetype="audio/wav", max_age=0)
