"""The teleassistance report, for the teleassistance staff (and admins): the weekly calls'
figures per ISO week and per area (calls placed, answered, missed, alarms and the time to
handle them), plotted and as a table, and the same figures as a CSV download.

Counts and areas only (:mod:`ivr.teleassistance.report`): nobody's name, number or id.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from ivr.admin import auth, charts
from ivr.admin.services import services
from ivr.admin.views.common import city_now, live_dialplan, t
from ivr.teleassistance import report as figures

bp = Blueprint("teleassistance_report", __name__)

DEFAULT_WEEKS = 8


def _period() -> tuple[str, str, str]:
    """(first, last, error) from ``?from=&to=`` (ISO weeks); the last 8 weeks by default."""
    now = _now()
    default_first, default_last = figures.last_weeks(now.date(), DEFAULT_WEEKS)
    typed_first = request.args.get("from", "").strip() or default_first
    typed_last = request.args.get("to", "").strip() or default_last
    try:
        first, last = figures.week_range(typed_first, typed_last)
    except figures.WeekError as err:
        return (
            typed_first,
            typed_last,
            t("tr_bad_week", field=t("period_" + err.field), weeks=figures.MAX_WEEKS),
        )
    return first, last, ""


def _now():
    return city_now(live_dialplan()).replace(tzinfo=None)  # the calls' clock: local time


def _area(name: str) -> str:
    """An area as the table and the plots name it (``name`` as :func:`figures.rows` gives it)."""
    return t("tr_all_areas") if name == figures.ALL_SHOWN else name or t("tr_no_area")


def _charts(found: figures.Report) -> list[Markup]:
    weeks = list(found.weeks)
    cells = [found.cell(w) for w in weeks]
    areas = list(found.areas)
    by_area = [found.totals[a] for a in areas]
    # Inline SVG built (and escaped) by ElementTree in ivr/admin/charts.py: safe to insert.
    return [
        Markup(
            charts.grouped_bars(
                "chart-ta-calls",
                t("tr_chart_calls"),
                weeks,
                [
                    (t("tr_placed"), [c.calls_placed for c in cells]),
                    (t("tr_answered"), [c.answered for c in cells]),
                    (t("tr_missed"), [c.missed for c in cells]),
                ],
                x_label=t("tr_week"),
                y_label=t("calls"),
                empty=t("tr_no_calls"),
            )
        ),
        Markup(
            charts.grouped_bars(
                "chart-ta-alarms",
                t("tr_chart_alarms"),
                weeks,
                [
                    (t("tr_alarms_raised"), [c.alarms_raised for c in cells]),
                    (t("tr_alarms_closed"), [c.alarms_closed for c in cells]),
                    (t("tr_alarms_open"), [c.alarms_open for c in cells]),
                ],
                x_label=t("tr_week"),
                y_label=t("tr_alarms"),
                empty=t("tr_no_alarms"),
            )
        ),
        Markup(
            charts.grouped_bars(
                "chart-ta-areas",
                t("tr_chart_areas"),
                [_area(figures.shown_area(a)) for a in areas],
                [
                    (t("tr_answered"), [f.answered for f in by_area]),
                    (t("tr_missed"), [f.missed for f in by_area]),
                    (t("tr_alarms_raised"), [f.alarms_raised for f in by_area]),
                ],
                x_label=t("ta_area"),
                y_label=t("tr_weeks_count"),
                empty=t("tr_no_calls"),
            )
        ),
    ]


def _figures() -> tuple[str, str, str, figures.Report | None, int]:
    first, last, error = _period()
    if error:
        return first, last, error, None, 400
    try:
        found = figures.report(services().teleassistance().engine, first, last, _now())
    except SQLAlchemyError:
        return first, last, t("records_unavailable"), None, 503
    return first, last, "", found, 200


@bp.get("/teleassistance/report")
@auth.require("teleassistance")
def report_page():
    first, last, error, found, status = _figures()
    page = {"date_from": first, "date_to": last, "error": error, "report": found}
    if found is not None:
        page["charts"] = _charts(found)
        page["rows"] = figures.rows(found)
        page["area_name"] = _area
    return render_template("teleassistance_report.html", **page), status


@bp.get("/teleassistance/report.csv")
@auth.require("teleassistance")
def report_csv():
    first, last, error, found, status = _figures()
    if found is None:
        return Response(error + "\n", status, mimetype="text/plain")
    response = Response(figures.to_csv(found), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="teleassistance-{first}-{last}.csv"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
