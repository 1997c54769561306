"""The back office's categories: what kinds of request each department handles and the SLA
hours per severity (issue 14). Every back-office clerk may read them (they say when each request
is due); only admins add or change them.

Why admins only: the hours are the deadlines the city promises and the back office is measured
by (the reports' "overdue"); the staff who work the queue should not be the ones who can move
their own deadlines. There is no back-office manager role; the admin is it.

Problems are shown beside their fields: the form's own (hours that are not whole numbers, a
department the live call flow does not know) and :func:`ivr.backoffice.rules.check_category`'s.
Audited by the category's code only.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from ivr.admin import auth
from ivr.admin.services import services
from ivr.admin.views.common import live_dialplan, t
from ivr.backoffice.rules import DEFAULT_SLA, SEVERITIES, Category, RequestError
from ivr.backoffice.store import BackofficeStore

bp = Blueprint("backoffice_categories", __name__)


def store() -> BackofficeStore:
    from ivr.db import ready

    return BackofficeStore(ready(services().settings.database_url))


def manager() -> bool:
    """Who may change categories: admins (see the module's docstring)."""
    return auth.allowed("back_office_admin")


def _departments() -> list[str]:
    dialplan = live_dialplan()
    return list(dialplan.departments) if dialplan else []


def _form_of(category: Category | None) -> dict[str, str]:
    if category is None:
        return {"code": "", "department": "", "name": "", "description": "", "active": "1"}
    form = {
        "code": category.code,
        "department": category.department,
        "name": category.name,
        "description": category.description,
        "active": "1" if category.active else "",
    }
    form.update({f"sla_{s}": str(h) for s, h in category.sla.items()})
    return form


def _read(form: dict[str, str], code: str | None) -> tuple[Category, dict[str, list[str]]]:
    """The category the form describes and the problems of its fields (by field name)."""
    errors: dict[str, list[str]] = {}
    sla: dict[str, int] = {}
    for severity in SEVERITIES:
        typed = form.get(f"sla_{severity}", "").strip()
        if not typed:
            continue
        if not typed.isdigit() or not 1 <= int(typed) <= 24 * 366:
            errors.setdefault(f"sla_{severity}", []).append(t("bok_sla_hours"))
        else:
            sla[severity] = int(typed)
    category = Category(
        code=(code if code is not None else form.get("code", "")).strip(),
        department=form.get("department", "").strip(),
        name=form.get("name", "").strip()[:80],
        description=form.get("description", "").strip()[:2000],
        sla=sla,
        active=bool(form.get("active")),
    )
    departments = _departments()
    if category.department and departments and category.department not in departments:
        errors.setdefault("department", []).append(t("bok_unknown_department"))
    return category, errors


@bp.get("/backoffice/categories")
@auth.require("back_office")
def categories():
    try:
        found = store().categories(active_only=False)
    except SQLAlchemyError:
        abort(503)
    return render_template(
        "bok_categories.html",
        categories=list(found.values()),
        severities=SEVERITIES,
        defaults=DEFAULT_SLA,
        manager=manager(),
    )


@bp.get("/backoffice/categories/new")
@bp.get("/backoffice/categories/<code>")
@auth.require("back_office")
def category(code: str | None = None):
    return _page(code)


@bp.post("/backoffice/categories/new")
@bp.post("/backoffice/categories/<code>")
@auth.require("back_office_admin")
def category_save(code: str | None = None):
    return _page(code, save=True)


def _page(code: str | None, save: bool = False):
    bo = store()
    existing = bo.categories(active_only=False).get(code) if code else None
    if code and existing is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    form = _form_of(existing)
    if save:
        form = {k: str(v) for k, v in request.form.items()}
        found, errors = _read(form, code)
        if not code and found.code in bo.categories(active_only=False):
            errors.setdefault("code", []).append(t("bok_code_taken"))
        if not errors:
            try:
                bo.save_category(found)
            except RequestError as err:
                for problem in err.problems:
                    name = "sla_normal" if problem.field == "sla" else problem.field
                    errors.setdefault(name, []).append(problem.message)
            else:
                with services().sessions.begin() as db:
                    auth.audit(db, "bok_category_save" if code else "bok_category_add", found.code)
                flash(t("bok_saved"), "ok")
                return redirect(url_for("backoffice_categories.categories"))
    return render_template(
        "bok_category.html",
        existing=existing,
        form=form,
        errors=errors,
        departments=_departments(),
        severities=SEVERITIES,
        defaults=DEFAULT_SLA,
        manager=manager(),
    ), (400 if errors else 200)
