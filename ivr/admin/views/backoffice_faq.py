"""The back office's knowledge: FAQ entries written from solved requests, per department, and
put into the IVR's draft so that the next caller is answered by the machine (issue 14).

Who does what: the back office writes, edits and deletes entries (they know the answers and
may open the requests); editors and admins read them and put one into the **draft** (the
draft is theirs: ``edit``), then publish the draft as usual. Entries carry no personal data
(:func:`ivr.backoffice.faq_rules.check` refuses phone numbers and e-mail addresses), so
editors may read them. Audited by ids only.

Putting an entry into the draft (:mod:`ivr.admin.faq_draft`) writes its text as the prompt
``faq_<id>`` in the entry's language (like a prompt edit, audited) and adds a ``play`` node
reached by a free key of a menu: nothing is live until an editor publishes the draft, which
the validator refuses while the prompt is missing in one of the city's languages.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from ivr.admin import auth, editing, faq_draft, prompt_store
from ivr.admin.services import services
from ivr.admin.views.common import draft_text, save_draft, t
from ivr.backoffice import faq_rules
from ivr.backoffice.faq import FaqEntry, FaqStore, solved
from ivr.backoffice.rules import LANGUAGES, RequestError
from ivr.backoffice.store import BackofficeStore, RequestView

bp = Blueprint("backoffice_faq", __name__)


def faq_store() -> FaqStore:
    from ivr.db import ready

    return FaqStore(ready(services().settings.database_url))


def _request(typed: str) -> RequestView | None:
    """A request by id or by the code read to the citizen."""
    from ivr.db import ready

    typed = typed.strip()
    requests = BackofficeStore(ready(services().settings.database_url))
    if typed.isdigit() and len(typed) < 8:
        return requests.get(int(typed))
    return requests.by_code(typed) if typed else None


def _errors(err: RequestError) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in err.problems:
        found.setdefault(problem.field, []).append(problem.message)
    return found


def _text(form) -> faq_rules.FaqText:
    return faq_rules.FaqText(
        question=str(form.get("question", ""))[:2000],
        answer=str(form.get("answer", ""))[:4000],
        language=str(form.get("language", "it")),
    )


@bp.get("/backoffice/faq")
@auth.require("faq")
def entries():
    department = request.args.get("department", "").strip()[:40]
    try:
        store = faq_store()
        found = store.entries(department)
        departments = store.departments()
    except SQLAlchemyError:
        abort(503)
    return render_template(
        "bok_faq.html",
        entries=found,
        department=department,
        departments=departments,
        writer=auth.allowed("back_office"),
    )


@bp.get("/backoffice/faq/new")
@auth.require("back_office")
def new_form():
    typed = request.args.get("request", "")
    found = _request(typed) if typed else None
    errors: dict[str, list[str]] = {}
    if typed and found is None:
        errors["request"] = [t("bok_no_such_request")]
    elif found is not None and not solved(found.status, found.solved_at):
        errors["request"] = [t("bok_request_not_solved", status=found.status)]
    form = {"request": typed, "language": found.language if found else "it"}
    return _new_page(found, form, errors)


def _new_page(found: RequestView | None, form, errors, status: int | None = None):
    return render_template(
        "bok_faq_new.html",
        found=found,
        form=form,
        errors=errors,
        languages=LANGUAGES,
    ), status or (400 if errors else 200)


@bp.post("/backoffice/faq/new")
@auth.require("back_office")
def create():
    form = request.form
    found = _request(str(form.get("request", "")))
    if found is None:
        return _new_page(None, form, {"request": [t("bok_no_such_request")]})
    try:
        entry = faq_store().from_request(found.id, _text(form), auth.current_user().username)
    except RequestError as err:
        return _new_page(found, form, _errors(err))
    with services().sessions.begin() as db:
        auth.audit(db, "bok_faq_add", f"faq {entry.id} from request {found.id}")
    flash(t("bok_saved"), "ok")
    return redirect(url_for("backoffice_faq.entry", entry_id=entry.id))


def _entry_page(entry: FaqEntry, form=None, errors=None, draft_errors=None, status=200):
    menus: dict[str, list[str]] = {}
    default = ""
    if auth.allowed("edit"):
        try:
            text = draft_text()
            menus = faq_draft.menus(text)
            default = faq_draft.default_menu(text, entry.department)
        except editing.EditError as err:
            draft_errors = {"menu": [str(err)], **(draft_errors or {})}
    chosen = request.form.get("menu", default) if request.method == "POST" else default
    return render_template(
        "bok_faq_entry.html",
        entry=entry,
        form=form
        or {"question": entry.question, "answer": entry.answer, "language": entry.language},
        errors=errors or {},
        draft_errors=draft_errors or {},
        languages=LANGUAGES,
        writer=auth.allowed("back_office"),
        editor=auth.allowed("edit"),
        menus=menus,
        menu=chosen,
        spoken=faq_rules.spoken(entry.question, entry.answer),
        key=faq_rules.prompt_key(entry.id),
    ), status


def _existing(entry_id: int) -> FaqEntry:
    entry = faq_store().get(entry_id)
    if entry is None:
        abort(404)
    return entry


@bp.get("/backoffice/faq/<int:entry_id>")
@auth.require("faq")
def entry(entry_id: int):
    return _entry_page(_existing(entry_id))


@bp.post("/backoffice/faq/<int:entry_id>")
@auth.require("back_office")
def update(entry_id: int):
    entry = _existing(entry_id)
    try:
        faq_store().update(entry_id, _text(request.form))
    except RequestError as err:
        return _entry_page(entry, request.form, _errors(err), status=400)
    with services().sessions.begin() as db:
        auth.audit(db, "bok_faq_edit", f"faq {entry_id}")
    flash(t("bok_saved"), "ok")
    return redirect(url_for("backoffice_faq.entry", entry_id=entry_id))


@bp.post("/backoffice/faq/<int:entry_id>/delete")
@auth.require("back_office")
def delete(entry_id: int):
    _existing(entry_id)
    gone = faq_store().delete(entry_id)
    with services().sessions.begin() as db:
        auth.audit(db, "bok_faq_delete", f"faq {entry_id}")
    flash(t("bok_faq_deleted", key=gone.prompt_key) if gone.prompt_key else t("bok_deleted"), "ok")
    return redirect(url_for("backoffice_faq.entries"))


@bp.post("/backoffice/faq/<int:entry_id>/draft")
@auth.require("edit")
def to_draft(entry_id: int):
    """The entry into the draft: its prompt text in its language, a play node on a free key
    of the chosen menu. Nothing goes live: the editor publishes the draft."""
    entry = _existing(entry_id)
    key = faq_rules.prompt_key(entry.id)
    menu = str(request.form.get("menu", "")).strip()[:200]
    digit = str(request.form.get("digit", "")).strip()[:1]
    try:
        new = faq_draft.add_entry(draft_text(), key, menu, digit, f"FAQ {entry.id}, back office")
    except editing.EditError as err:
        field, _, message = str(err).partition(": ")
        if field not in ("menu", "digit"):
            field, message = "menu", str(err)
        return _entry_page(entry, draft_errors={field: [message]}, status=400)
    prompts_dir = Path(services().settings.prompts_dir)
    spoken = faq_rules.spoken(entry.question, entry.answer)
    try:
        changes = prompt_store.set_texts(prompts_dir, key, {entry.language: spoken})
    except (prompt_store.PromptError, OSError) as err:
        return _entry_page(entry, draft_errors={"menu": [str(err)]}, status=400)
    if changes:
        with services().sessions.begin() as db:
            auth.audit(
                db,
                "prompt_edit",
                key,
                {lang: old for lang, (old, _) in changes.items()},
                {lang: text for lang, (_, text) in changes.items()},
            )
    save_draft(new, "faq_to_draft", f"faq {entry.id} -> {key}")
    faq_store().set_prompt_key(entry.id, key)
    flash(t("bok_faq_in_draft", key=key, menu=menu), "ok")
    return redirect(url_for("prompts.prompt", key=key))
