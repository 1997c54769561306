"""The switchboard directory: operators (and everyone who sees the live view) search it; admins
add, change, disable and import entries (CSV, all or nothing). Every change is audited, then
applied: the names are spoken into audio and the staff phones given to Asterisk."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ivr.admin import auth
from ivr.admin.services import services
from ivr.admin.views.common import live_dialplan
from ivr.directory.apply import apply_directory
from ivr.directory.csvio import CsvError, split_aliases
from ivr.directory.rules import KINDS, EntryData
from ivr.directory.store import EntryError, describe

bp = Blueprint("directory", __name__)


@bp.get("/directory")
@auth.require("live")
def entries():
    query = request.args.get("q", "")
    rows = services().directory().entries(query)
    dialplan = live_dialplan()
    departments = sorted(dialplan.departments) if dialplan else []
    return render_template(
        "directory.html", rows=rows, query=query, departments=departments, kinds=KINDS
    )


def _apply() -> None:
    admin = services()
    dialplan = live_dialplan()
    if dialplan is None:
        return
    target = admin.target
    applied = apply_directory(
        admin.directory(),
        dialplan,
        admin.settings.sounds_dir,
        etc_dir=target.etc_dir if target else None,
        ami=target.ami if target else None,
        sync_sounds=admin.sync_sounds,
        synthesizer=admin.synthesizer,
    )
    flash(applied.message, "ok" if applied.ok else "error")


@bp.post("/directory")
@auth.require("users")
def save():
    form = request.form
    data = EntryData(
        name=form.get("name", ""),
        department=form.get("department", ""),
        kind=form.get("kind", "office"),
        aliases=split_aliases(form.get("aliases", "")),
        extension=form.get("extension", "").strip(),
        external=form.get("external", "").strip(),
        hours=form.get("hours", ""),
        enabled=form.get("enabled") == "on",
    )
    entry_id = int(form["id"]) if form.get("id", "").isdigit() else None
    dialplan = live_dialplan()
    if dialplan is None:
        flash("no live dialplan: publish one first", "error")
        return redirect(url_for("directory.entries"))
    try:
        row, before = services().directory().save(data, dialplan, entry_id)
    except EntryError as err:
        for problem in err.problems:
            flash(str(problem), "error")
        return redirect(url_for("directory.entries"))
    with services().sessions.begin() as db:
        auth.audit(db, "directory_save", row.name, before or None, describe(row))
    _apply()
    return redirect(url_for("directory.entries"))


@bp.post("/directory/import")
@auth.require("users")
def import_csv():
    upload = request.files.get("file")
    dialplan = live_dialplan()
    if upload is None or dialplan is None:
        flash("choose a CSV file (and publish a dialplan first)", "error")
        return redirect(url_for("directory.entries"))
    store = services().directory()
    before = store.export_csv()
    try:
        result = store.import_csv(upload.read().decode("utf-8-sig"), dialplan)
    except (CsvError, UnicodeDecodeError) as err:
        flash("not imported, nothing changed:", "error")
        for message in getattr(err, "messages", [str(err)]):
            flash(message, "error")
        return redirect(url_for("directory.entries"))
    with services().sessions.begin() as db:
        auth.audit(db, "directory_import", upload.filename or "", before, store.export_csv())
    flash(f"imported: {result.added} added, {result.updated} updated", "ok")
    _apply()
    return redirect(url_for("directory.entries"))
