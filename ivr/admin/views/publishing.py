"""Going live: the home page (what is live, whether the draft differs), publishing the draft,
the versions, restoring one, and taking one back into the draft. The work is
:class:`~ivr.admin.publish.Publisher`'s; these views only ask and show its result."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from ivr.admin import auth
from ivr.admin.models import DialplanVersion, Draft, Publication
from ivr.admin.publish import sha256
from ivr.admin.services import services
from ivr.admin.views.common import diff_lines, draft_state, draft_text, result_dict, save_draft, t

bp = Blueprint("publishing", __name__)


@bp.get("/")
@auth.require("live")
def home():
    if auth.current_user().role == "operator":
        return redirect(url_for("live.live"))
    text, dialplan, issues = draft_state()
    admin = services()
    with admin.sessions() as db:
        live = admin.publisher.live_version(db)
        last = db.scalars(select(Publication).order_by(Publication.id.desc()).limit(5)).all()
        draft = db.get(Draft, 1)
    try:
        changed = text != admin.publisher.live_text()
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
        switches=sorted(admin.live_state.switches()),
    )


@bp.get("/publish")
@auth.require("read")
def publish_page():
    text, _, issues = draft_state()
    live = services().publisher.live_text()
    return render_template(
        "publish.html",
        issues=issues,
        lines=diff_lines(live, text, "live", "draft"),
        same=live == text,
        base=sha256(text),
        result=session.pop("publish_result", None),
    )


@bp.post("/publish")
@auth.require("publish")
def publish():
    text = draft_text()
    if request.form.get("base") != sha256(text):
        flash(t("draft_changed_meanwhile"), "error")
        return redirect(url_for("publishing.publish_page"))
    note = request.form.get("note", "")[:500]
    result = services().publisher.publish(
        text, auth.current_user().username, note, ip=auth.client_ip()
    )
    session["publish_result"] = result_dict(result)
    return redirect(url_for("publishing.publish_page") + "#result")


@bp.get("/versions")
@auth.require("read")
def versions():
    admin = services()
    with admin.sessions() as db:
        live = admin.publisher.live_version(db)
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


@bp.get("/versions/<int:version_id>")
@auth.require("read")
def version(version_id: int):
    admin = services()
    with admin.sessions() as db:
        row = db.get(DialplanVersion, version_id)
        if row is None:
            abort(404)
        live = admin.publisher.live_version(db)
    lines = diff_lines(live.yaml_text if live else "", row.yaml_text, "live", f"v{row.id}")
    return render_template("version.html", version=row, live=live, lines=lines)


@bp.post("/versions/<int:version_id>/restore")
@auth.require("publish")
def restore(version_id: int):
    result = services().publisher.restore(
        version_id, auth.current_user().username, ip=auth.client_ip()
    )
    session["publish_result"] = result_dict(result)
    return redirect(url_for("publishing.versions") + "#result")


@bp.post("/versions/<int:version_id>/edit")
@auth.require("edit")
def version_to_draft(version_id: int):
    with services().sessions() as db:
        row = db.get(DialplanVersion, version_id)
        if row is None:
            abort(404)
        text = row.yaml_text
    save_draft(text, "draft_from_version", f"version {version_id}")
    flash(t("draft_from_version_done", id=version_id), "ok")
    return redirect(url_for("flow.flow"))
