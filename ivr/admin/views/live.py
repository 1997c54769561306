"""What is happening and how well: the live view (calls in the IVR, callers and operators per
queue, read from Asterisk at each refresh, plus its JSON for the page's auto-refresh) and the
service levels of a period against the Italian targets (aggregates only)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, g, jsonify, render_template, request
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from ivr.admin import auth, charts, live_view
from ivr.admin import service_levels as levels
from ivr.admin.services import services
from ivr.admin.views.common import live_dialplan, t
from ivr.kpi.report import shown

bp = Blueprint("live", __name__)

# Pause reasons with an interface text (the desk's and ``*13``'s); others are shown as given.
PAUSE_REASONS = ("break", "backoffice", "training", "-")


def _snapshot() -> live_view.LiveSnapshot:
    live = live_dialplan()
    labels = {}
    if live is not None:
        lang = g.get("lang", "it")
        for dept in live.departments.values():
            labels.setdefault(dept.queue, dept.names.get(lang) or dept.id)
    return live_view.snapshot(services().live_source, labels)


@bp.get("/live")
@auth.require("live")
def live():
    return render_template(
        "live.html", snap=_snapshot(), switches=sorted(services().live_state.switches())
    )


@bp.get("/api/live")
@auth.require("live")
def api_live():
    data = _snapshot().as_dict()
    data["switches"] = sorted(services().live_state.switches())
    return jsonify(data)


@bp.get("/service-levels")
@auth.require("read")
def service_levels():
    """The city's calls of a period against the Italian targets (aggregates only)."""
    admin = services()
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
        first, last = levels.period(date_from or None, date_to or None, admin.clock(zone).date())
    except levels.PeriodError as err:
        page["error"] = t(err.key, days=levels.MAX_DAYS)
        return render_template("service_levels.html", **page), 400
    page.update(date_from=first.isoformat(), date_to=last.isoformat(), zone=zone.key)
    try:
        overview = admin.call_records.overview(first, last, zone)
    except SQLAlchemyError:
        page["error"] = t("records_unavailable")
        return render_template("service_levels.html", **page), 503
    page["report"], series = overview.report, overview.series
    page["operators"] = overview.operators if auth.allowed("users") else {}
    page["pause_reasons"] = PAUSE_REASONS
    average = overview.report.city.avg_wait_s
    # Inline SVG built (and escaped) by ElementTree in ivr/admin/charts.py: safe to insert.
    page["charts"] = [
        Markup(charts.hourly_chart(series.hours, t)),
        Markup(charts.wait_chart(series.waits, series.answered, average, t)),
        Markup(charts.daily_chart(series.days, t)),
    ]
    return render_template("service_levels.html", **page)
