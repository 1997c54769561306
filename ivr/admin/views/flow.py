"""The draft call flow: the graph, a form per node, the raw YAML editor, the diff with what is
live, and the validation API the YAML editor calls while typing."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from ivr.admin import auth, editing, graph
from ivr.admin.publish import check_text, sha256
from ivr.admin.services import services
from ivr.admin.views.common import diff_lines, draft_state, draft_text, languages, save_draft, t
from ivr.flow.actions import DTMF_KEYS

bp = Blueprint("flow", __name__)


@bp.get("/flow")
@auth.require("read")
def flow():
    text, dialplan, issues = draft_state()
    broken = {i.node for i in issues if i.node}
    picture = (
        graph.svg(
            dialplan, broken, link=url_for("flow.node", node_id="NODE").replace("NODE", "{id}")
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


@bp.post("/flow/nodes")
@auth.require("edit")
def add_node():
    node_id = request.form.get("node_id", "")
    try:
        new = editing.add_node(draft_text(), node_id, request.form.get("kind", ""))
    except editing.EditError as err:
        flash(str(err), "error")
        return redirect(url_for("flow.flow"))
    save_draft(new, "node_add", node_id.strip())
    return redirect(url_for("flow.node", node_id=node_id.strip()))


@bp.route("/flow/node/<node_id>", methods=["GET", "POST"])
@auth.require("read")
def node(node_id: str):
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
            return redirect(url_for("flow.node", node_id=node_id))
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
        languages=languages(dialplan),
        keys=DTMF_KEYS,
        error=error,
        form=request.form if request.method == "POST" else None,
    )


@bp.post("/flow/node/<node_id>/delete")
@auth.require("edit")
def delete_node(node_id: str):
    try:
        new = editing.delete_node(draft_text(), node_id)
    except editing.EditError as err:
        flash(str(err), "error")
        return redirect(url_for("flow.flow"))
    save_draft(new, "node_delete", node_id)
    flash(t("deleted"), "ok")
    return redirect(url_for("flow.flow"))


@bp.route("/flow/yaml", methods=["GET", "POST"])
@auth.require("read")
def yaml_editor():
    if request.method == "POST":
        if not auth.allowed("edit"):
            abort(403)
        text = request.form.get("yaml", "").replace("\r\n", "\n")
        if request.form.get("base") != sha256(draft_text()):
            flash(t("draft_changed_meanwhile"), "error")
            return render_template(
                "yaml.html",
                text=text,
                issues=check_text(text, services().settings)[1],
                base=sha256(draft_text()),
            ), 409
        save_draft(text, "draft_yaml", "draft")
        flash(t("saved"), "ok")
        return redirect(url_for("flow.yaml_editor"))
    text, _, issues = draft_state()
    return render_template("yaml.html", text=text, issues=issues, base=sha256(text))


@bp.post("/flow/reset")
@auth.require("edit")
def reset_draft():
    save_draft(services().publisher.live_text(), "draft_reset", "draft")
    flash(t("draft_reset_done"), "ok")
    return redirect(url_for("flow.flow"))


@bp.get("/flow/diff")
@auth.require("read")
def diff():
    text = draft_text()
    live = services().publisher.live_text()
    return render_template("diff.html", lines=diff_lines(live, text, "live", "draft"))


@bp.post("/api/validate")
@auth.require("read")
def api_validate():
    payload = request.get_json(silent=True) or {}
    text = payload.get("yaml")
    if not isinstance(text, str):
        text = draft_text()
    issues = check_text(text, services().settings)[1] if text else []
    return jsonify(
        {
            "ok": not issues and bool(text),
            "issues": [
                {"line": i.line, "node": i.node, "message": i.message, "text": str(i)}
                for i in issues
            ],
        }
    )
