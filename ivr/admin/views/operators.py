"""Operator accounts, for admins: list, add, edit, enable/disable, rotate the SIP secret, remove.

Every change is checked whole by :class:`~ivr.operators.store.OperatorStore` (a refused form is
shown again with each problem beside its field, and nothing is written), audited, then made
live with :meth:`~ivr.admin.publish.Publisher.apply_operators`, whose answer (Asterisk's
confirmation or why not) the admin sees. A new or rotated SIP secret is the body of the POST's
own answer (no redirect, so it is in no URL, session or log; ``no-store``) and never shown again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from ivr.admin import auth
from ivr.admin.models import User
from ivr.admin.publish import PublishResult
from ivr.admin.services import services
from ivr.admin.views.common import live_dialplan, t
from ivr.operators.rules import PRIORITY_RANGE, AccountError, AccountSpec, Problem
from ivr.operators.store import Account

bp = Blueprint("operators", __name__)

FIELDS = ("extension", "name", "languages", "skills", "username")


def describe(account: Account | None) -> str | None:
    """An account for the audit log's before/after (never the secret or its digest)."""
    if account is None:
        return None
    skills = ",".join(f"{d}:{p}" for d, p in account.skills)
    return (
        f"ext={account.extension} name={account.name} languages={','.join(account.languages)} "
        f"skills={skills} enabled={account.enabled} tls={account.tls} "
        f"desk={account.username or '-'}"
    )


def _desk_users() -> list[str]:
    with services().sessions() as db:
        return list(
            db.scalars(select(User.username).where(User.role == "operator").order_by(User.username))
        )


def _form_spec(extension: str) -> tuple[AccountSpec, list[Problem]]:
    """The account the form describes, and the problems the store cannot see (a priority that
    is not a number)."""
    form = request.form
    dialplan = live_dialplan()
    departments = sorted(dialplan.departments) if dialplan else []
    problems = []
    skills = []
    for department in departments:
        value = form.get(f"skill_{department}", "").strip()
        if not value:
            continue
        if not value.isdigit():
            problems.append(Problem("skills", f"priority {value!r} for {department!r}: 1 to 9"))
            continue
        skills.append((department, int(value)))
    spec = AccountSpec(
        extension=extension,
        name=form.get("name", ""),
        languages=tuple(form.getlist("languages")),
        skills=tuple(skills),
        enabled=form.get("enabled") == "on",
        tls=form.get("tls") == "on",
        username=form.get("username", "") or None,
    )
    return spec, problems


def _errors(problems: list[Problem]) -> dict[str, list[str]]:
    """Problems by form field; one naming no field of the form goes to the top (``form``)."""
    found: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        found[problem.field if problem.field in FIELDS else "form"].append(problem.message)
    return dict(found)


def _form_page(
    template: str, spec: AccountSpec | None, errors: dict[str, list[str]], status: int = 200
) -> Any:
    dialplan = live_dialplan()
    return (
        render_template(
            template,
            spec=spec,
            errors=errors,
            departments=sorted(dialplan.departments) if dialplan else [],
            languages=list(dialplan.languages) if dialplan else [],
            desk_users=_desk_users(),
            priorities=PRIORITY_RANGE,
            accounts=services().operators().accounts() if template == "operators.html" else [],
        ),
        status,
    )


def _publish(what: str) -> PublishResult:
    """Make the accounts live; ``what`` (no names: it may reach the log) goes to the audit."""
    user = auth.current_user()
    return services().publisher.apply_operators(
        user.username if user else "-", what, ip=auth.client_ip()
    )


def _flash_result(result: PublishResult) -> None:
    if result.ok:
        flash(t("operators_live", message=result.message), "ok")
    else:
        flash(t("operators_not_live", message=result.message), "error")


def _audit(action: str, extension: str, before: Account | None, after: Account | None) -> None:
    with services().sessions.begin() as db:
        auth.audit(db, action, extension, describe(before), describe(after))


def _secret_page(account: Account, secret: str, result: PublishResult) -> Response:
    """The one time the secret is shown: this response's body, never cached or stored."""
    response = make_response(
        render_template("operator_secret.html", account=account, secret=secret, result=result)
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/operators")
@auth.require("users")
def accounts():
    return _form_page("operators.html", None, {})


@bp.post("/operators")
@auth.require("users")
def add():
    extension = request.form.get("extension", "").strip()
    spec, problems = _form_spec(extension)
    store = services().operators()
    try:
        if problems:
            raise AccountError(problems)
        secret = store.add(spec)
    except AccountError as err:
        return _form_page("operators.html", spec, _errors(err.problems), 422)
    account = store.get(extension)
    assert account is not None
    _audit("operator_add", extension, None, account)
    return _secret_page(account, secret, _publish(f"add operator {extension}"))


def _existing(extension: str) -> Account:
    account = services().operators().get(extension)
    if account is None:
        abort(404)
    return account


@bp.get("/operators/<extension>")
@auth.require("users")
def edit(extension: str):
    return _form_page("operator.html", _existing(extension).spec(), {})


@bp.post("/operators/<extension>")
@auth.require("users")
def update(extension: str):
    before = _existing(extension)
    spec, problems = _form_spec(extension)
    store = services().operators()
    try:
        if problems:
            raise AccountError(problems)
        store.update(extension, spec)
    except AccountError as err:
        return _form_page("operator.html", spec, _errors(err.problems), 422)
    _audit("operator_edit", extension, before, store.get(extension))
    _flash_result(_publish(f"edit operator {extension}"))
    return redirect(url_for("operators.accounts"))


@bp.post("/operators/<extension>/enabled")
@auth.require("users")
def set_enabled(extension: str):
    before = _existing(extension)
    enabled = request.form.get("enabled") == "on"
    store = services().operators()
    store.set_enabled(extension, enabled)
    _audit(
        "operator_enable" if enabled else "operator_disable",
        extension,
        before,
        store.get(extension),
    )
    _flash_result(_publish(f"{'enable' if enabled else 'disable'} operator {extension}"))
    return redirect(url_for("operators.accounts"))


@bp.post("/operators/<extension>/rotate")
@auth.require("users")
def rotate(extension: str):
    _existing(extension)
    store = services().operators()
    secret = store.rotate(extension)
    account = store.get(extension)
    assert account is not None
    _audit("operator_rotate", extension, None, account)
    return _secret_page(account, secret, _publish(f"rotate operator {extension}"))


@bp.post("/operators/<extension>/remove")
@auth.require("users")
def remove(extension: str):
    before = _existing(extension)
    if request.form.get("confirm") != "on":
        flash(t("operator_remove_confirm"), "error")
        return redirect(url_for("operators.edit", extension=extension))
    services().operators().remove(extension)
    _audit("operator_remove", extension, before, None)
    _flash_result(_publish(f"remove operator {extension}"))
    return redirect(url_for("operators.accounts"))


@bp.post("/operators/apply")
@auth.require("users")
def apply():
    """Publish the accounts again (after Asterisk was unreachable)."""
    _flash_result(_publish("apply operators"))
    return redirect(url_for("operators.accounts"))
