"""The back office's report, for its staff (and admins): requests open and overdue by team and
by severity, the median hours to the first contact and to the solution per department and
overall, over a range of days; plotted, as a table, and as a CSV download.

Counts, teams, severities and departments only (:mod:`ivr.backoffice.report`): no citizen,
no request's text or id.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, Response, render_template, request
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from ivr.admin import auth, charts
from ivr.admin.services import services
from ivr.admin.views.common import city_now, live_dialplan, t
from ivr.backoffice import report as figures

bp = Blueprint("backoffice_report", __name__)

DEFAULT_DAYS = 30


def _now() -> datetime:
    return city_now(live_dialplan()).replace(tzinfo=None)  # requests' clock: local time


def _period() -> tuple[str, str, str]:
    today = _now().date()
    typed_first = request.args.get("from", "").strip()[:20] or str(
        today - timedelta(days=DEFAULT_DAYS - 1)
    )
    typed_last = request.args.get("to", "").strip()[:20] or str(today)
    try:
        figures.day_range(typed_first, typed_last)
    except figures.RangeError as err:
        return (
            typed_first,
            typed_last,
            t("bok_bad_range", field=t("period_" + err.field), days=figures.MAX_DAYS),
        )
    return typed_first, typed_last, ""


def _figures() -> tuple[str, str, str, figures.Report | None, int]:
    first, last, error = _period()
    if error:
        return first, last, error, None, 400
    start, end = figures.day_range(first, last)
    from ivr.db import ready

    try:
        found = figures.report(ready(services().settings.database_url), start, end, _now())
    except SQLAlchemyError:
        return first, last, t("records_unavailable"), None, 503
    return first, last, "", found, 200


def _name(dimension: str, key: str) -> str:
    if dimension == "severity":
        return t("bok_sev_" + key)
    if dimension == "team" and not key:
        return t("bok_no_team")
    return key


def _charts(found: figures.Report) -> list[Markup]:
    out = []
    for dimension, ident, title in (
        ("team", "chart-bo-teams", t("bok_chart_teams")),
        ("severity", "chart-bo-severity", t("bok_chart_severity")),
    ):
        cells = found.by[dimension]
        out.append(
            Markup(  # inline SVG built and escaped by ElementTree (ivr/admin/charts.py)
                charts.grouped_bars(
                    ident,
                    title,
                    [_name(dimension, k) for k in cells],
                    [
                        (t("bok_open"), [f.open for f in cells.values()]),
                        (t("bok_overdue"), [f.overdue for f in cells.values()]),
                    ],
                    x_label=t("bok_" + dimension),
                    y_label=t("bok_requests"),
                    empty=t("bok_no_requests"),
                )
            )
        )
    departments = {**found.by["department"], t("bok_all"): found.total}
    out.append(
        Markup(
            charts.grouped_bars(
                "chart-bo-times",
                t("bok_chart_times"),
                list(departments),
                [
                    (
                        t("bok_contact_median"),
                        [round(f.contact_median_h or 0, 1) for f in departments.values()],
                    ),
                    (
                        t("bok_solve_median"),
                        [round(f.solve_median_h or 0, 1) for f in departments.values()],
                    ),
                ],
                x_label=t("bok_department"),
                y_label=t("bok_hours"),
                empty=t("bok_no_requests"),
            )
        )
    )
    return out


@bp.get("/backoffice/report")
@auth.require("back_office")
def report_page():
    first, last, error, found, status = _figures()
    page = {"date_from": first, "date_to": last, "error": error, "report": found}
    if found is not None:
        page["charts"] = _charts(found)
        page["rows"] = figures.rows(found)
        page["name"] = _name
        page["shown"] = figures.shown
    return render_template("bok_report.html", **page), status


@bp.get("/backoffice/report.csv")
@auth.require("back_office")
def report_csv():
    first, last, error, found, status = _figures()
    if found is None:
        return Response(error + "\n", status, mimetype="text/plain")
    response = Response(figures.to_csv(found), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="backoffice-{first}-{last}.csv"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
