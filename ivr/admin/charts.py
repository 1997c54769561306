"""The service levels page's plots as inline SVG (pure: figures and texts in, SVG text out).

Hand-written rather than a plotting library: three small charts need bars, points and labelled
target lines (20/150/240 s, 80%/40%), which pygal cannot draw without hacks and whose default
output loads JavaScript from a CDN; matplotlib is far heavier than the page. Here the SVG is
built with ElementTree (every text escaped, the output always well-formed), uses presentation
attributes only (the admin's CSP forbids inline styles and scripts), needs no network and no
JavaScript, and each chart is an ``img`` with a ``<title>`` and a ``<desc>`` saying what it
shows in words; every bar and point has its own ``<title>`` (the tables below stay the exact
figures). A period without data shows a sentence, never an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from xml.etree import ElementTree as ET

from ivr.kpi.report import TARGETS, WITHIN_S, Kpis, shown
from ivr.kpi.series import BUCKET_S, LAST_BUCKET_S, WaitBucket

Translate = Callable[..., str]  # the admin's ``t(key, **kw)``

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 64, 64, 56  # the plot area's margins
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

INK, MUTED, GRID = "#1b1b1b", "#555555", "#dddddd"
BAR, SERIES, SERIES_2 = "#12355b", "#0b57d0", "#b06000"
TARGET, AVERAGE = "#b3261e", "#137333"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class _Chart:
    """One SVG chart: frame, title, description, and helpers placing things in the plot area."""

    def __init__(self, ident: str, title: str, desc: str) -> None:
        self.root = ET.Element(
            "svg",
            {
                "xmlns": SVG_NS,
                "viewBox": f"0 0 {WIDTH} {HEIGHT}",
                "width": "100%",
                "role": "img",
                "aria-labelledby": f"{ident}-title {ident}-desc",
                "class": "chart",
                "id": ident,
                "font-family": "system-ui, sans-serif",
                "font-size": "12",
                "fill": INK,
            },
        )
        ET.SubElement(self.root, "title", id=f"{ident}-title").text = title
        ET.SubElement(self.root, "desc", id=f"{ident}-desc").text = desc
        self.text(WIDTH / 2, 22, title, size=15, weight="bold", cls="chart-title")

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        anchor: str = "middle",
        size: float = 12,
        weight: str = "normal",
        fill: str = INK,
        cls: str = "",
        rotate: bool = False,
        halo: bool = False,
    ) -> ET.Element:
        attrs = {"x": _num(x), "y": _num(y), "text-anchor": anchor, "fill": fill}
        if halo:  # a label over bars and lines stays readable
            attrs.update({"stroke": "#ffffff", "stroke-width": "3", "paint-order": "stroke"})
        if size != 12:
            attrs["font-size"] = _num(size)
        if weight != "normal":
            attrs["font-weight"] = weight
        if cls:
            attrs["class"] = cls
        if rotate:
            attrs["transform"] = f"rotate(-90 {_num(x)} {_num(y)})"
        element = ET.SubElement(self.root, "text", attrs)
        element.text = content
        return element

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, **attrs: str) -> None:
        values = {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
        ET.SubElement(
            self.root,
            "line",
            {**{k: _num(v) for k, v in values.items()}, "stroke": stroke, **attrs},
        )

    def axes(self, x_label: str, y_label: str, y2_label: str = "") -> None:
        bottom = TOP + PLOT_H
        self.line(LEFT, bottom, LEFT + PLOT_W, bottom, MUTED)
        self.line(LEFT, TOP, LEFT, bottom, MUTED)
        self.text(LEFT + PLOT_W / 2, HEIGHT - 12, x_label, cls="x-label")
        self.text(18, TOP + PLOT_H / 2, y_label, cls="y-label", rotate=True)
        if y2_label:
            self.line(LEFT + PLOT_W, TOP, LEFT + PLOT_W, bottom, MUTED)
            self.text(WIDTH - 14, TOP + PLOT_H / 2, y2_label, cls="y-label", rotate=True)

    def y_ticks(self, top: float, step: float, unit: str = "", right: bool = False) -> None:
        """Grid lines and values from 0 to ``top``, on the left axis or the right one."""
        value = 0.0
        while value <= top + 1e-9:
            y = TOP + PLOT_H - PLOT_H * value / top
            if value and not right:
                self.line(LEFT, y, LEFT + PLOT_W, y, GRID)
            x = LEFT + PLOT_W + 6 if right else LEFT - 6
            self.text(x, y + 4, f"{_num(value)}{unit}", anchor="start" if right else "end")
            value += step

    def legend(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """(shape: bar, circle, square; colour; text) in a row under the title."""
        x = LEFT
        for shape, colour, label in entries:
            y = 44
            if shape == "bar":
                ET.SubElement(
                    self.root, "rect", x=_num(x), y=str(y - 9), width="12", height="10", fill=colour
                )
            elif shape == "circle":
                self.line(x - 2, y - 4, x + 14, y - 4, colour, **{"stroke-width": "2"})
                _marker(self.root, "circle", x + 6, y - 4, colour)
            else:
                self.line(x - 2, y - 4, x + 14, y - 4, colour, **{"stroke-dasharray": "5 3"})
                _marker(self.root, "square", x + 6, y - 4, colour)
            self.text(x + 18, y, label, anchor="start", cls="legend")
            x += 30 + 7 * len(label)

    def empty(self, message: str) -> str:
        """The chart when there is nothing to draw: the sentence saying so, in the frame."""
        ET.SubElement(
            self.root,
            "rect",
            x=str(LEFT),
            y=str(TOP),
            width=str(PLOT_W),
            height=str(PLOT_H),
            fill="none",
            stroke=GRID,
        )
        self.text(WIDTH / 2, TOP + PLOT_H / 2, message, size=16, fill=MUTED, cls="empty")
        return self.svg()

    def svg(self) -> str:
        return ET.tostring(self.root, encoding="unicode")


def _marker(parent: ET.Element, shape: str, x: float, y: float, colour: str) -> ET.Element:
    """A point: circles and squares, so two series differ by more than colour."""
    if shape == "circle":
        return ET.SubElement(
            parent, "circle", cx=_num(x), cy=_num(y), r="4", fill="#ffffff", stroke=colour
        )
    return ET.SubElement(
        parent,
        "rect",
        x=_num(x - 3.5),
        y=_num(y - 3.5),
        width="7",
        height="7",
        fill="#ffffff",
        stroke=colour,
    )


def nice_scale(largest: float) -> tuple[float, float]:
    """(top, step) of a count axis reaching ``largest`` in at most ~5 whole steps of 1, 2 or 5
    times a power of ten."""
    if largest <= 0:
        return 1.0, 1.0
    raw = largest / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return math.ceil(largest / step) * step, float(step)


def _runs(points: Sequence[tuple[int, float, float]]) -> list[list[tuple[float, float]]]:
    """Consecutive (index, x, y) points as polylines: a slot without data breaks the line."""
    runs: list[list[tuple[float, float]]] = []
    previous = None
    for index, x, y in points:
        if previous is None or index != previous + 1:
            runs.append([])
        runs[-1].append((x, y))
        previous = index
    return runs


def _polyline(parent: ET.Element, run: list[tuple[float, float]], colour: str, **attrs: str):
    if len(run) > 1:
        ET.SubElement(
            parent,
            "polyline",
            {
                "points": " ".join(f"{_num(x)},{_num(y)}" for x, y in run),
                "fill": "none",
                "stroke": colour,
                "stroke-width": "2",
                **attrs,
            },
        )


def _pct_y(value: float) -> float:
    return TOP + PLOT_H - PLOT_H * value / 100


def hourly_chart(hours: Sequence[Kpis], t: Translate) -> str:
    """Calls per hour of the day (bars, left axis) and the share of queued calls answered
    (points, right axis) against ARERA's 80% line."""
    calls = sum(k.calls for k in hours)
    offered = sum(k.offered for k in hours)
    answered = sum(k.answered for k in hours)
    busiest = max(range(len(hours)), key=lambda h: hours[h].calls) if hours else 0
    desc = (
        t(
            "chart_hours_desc",
            calls=calls,
            hour=f"{busiest:02d}:00",
            busiest=hours[busiest].calls,
            answered=shown(100 * answered / offered if offered else None, "%"),
        )
        if calls
        else t("chart_no_calls")
    )
    chart = _Chart("chart-hours", t("chart_hours_title"), desc)
    if not calls:
        return chart.empty(t("chart_no_calls"))
    chart.legend([("bar", BAR, t("calls")), ("circle", SERIES, t("chart_answered_share"))])
    chart.axes(t("chart_hour_axis"), t("calls"), t("chart_answered_share"))
    top, step = nice_scale(max(k.calls for k in hours))
    chart.y_ticks(top, step)
    chart.y_ticks(100, 20, "%", right=True)
    slot = PLOT_W / 24
    for hour in range(0, 24, 3):
        chart.text(LEFT + slot * hour + slot / 2, TOP + PLOT_H + 16, f"{hour:02d}")
    _target_line(chart, 80, "ARERA", "%")
    bars = ET.SubElement(chart.root, "g", {"class": "bars"})
    points: list[tuple[int, float, float]] = []
    for hour, k in enumerate(hours):
        x = LEFT + slot * hour
        span = f"{hour:02d}:00–{(hour + 1) % 24:02d}:00"
        if k.calls:
            height = PLOT_H * k.calls / top
            bar = ET.SubElement(
                bars,
                "rect",
                {
                    "class": "bar",
                    "data-hour": str(hour),
                    "data-calls": str(k.calls),
                    "x": _num(x + slot * 0.15),
                    "y": _num(TOP + PLOT_H - height),
                    "width": _num(slot * 0.7),
                    "height": _num(height),
                    "fill": BAR,
                    "fill-opacity": "0.8",
                },
            )
            share = shown(k.answered_pct, "%")
            ET.SubElement(bar, "title").text = t(
                "chart_hour_bar", span=span, calls=k.calls, answered=share
            )
        if k.answered_pct is not None:
            points.append((hour, x + slot / 2, _pct_y(k.answered_pct)))
    for run in _runs(points):
        _polyline(chart.root, run, SERIES)
    for (hour, x, y), k in ((p, hours[p[0]]) for p in points):
        point = _marker(chart.root, "circle", x, y, SERIES)
        point.set("class", "point")
        point.set("data-hour", str(hour))
        ET.SubElement(point, "title").text = t(
            "chart_hour_point",
            span=f"{hour:02d}:00",
            answered=shown(k.answered_pct, "%"),
            offered=k.offered,
        )
    return chart.svg()


def _target_line(chart: _Chart, value: float, source: str, unit: str) -> None:
    """A dashed horizontal line at a percentage target, named at its right end."""
    y = _pct_y(value)
    chart.line(
        LEFT,
        y,
        LEFT + PLOT_W,
        y,
        TARGET,
        **{"stroke-dasharray": "6 4", "class": "target-line", "data-value": _num(value)},
    )
    chart.text(LEFT + PLOT_W - 4, y - 5, f"{source} {_num(value)}{unit}", anchor="end", fill=TARGET)


def wait_chart(
    buckets: Sequence[WaitBucket], answered: int, average_s: float | None, t: Translate
) -> str:
    """How long answered callers waited, in 10 s bars, against the 20 s line (AGCOM: 40%
    within it) and the 150 s and 240 s average-wait limits (AGCOM, ARERA), with the period's
    average wait."""
    if not buckets:
        chart = _Chart("chart-waits", t("chart_waits_title"), t("chart_no_answered"))
        return chart.empty(t("chart_no_answered"))

    def waited(low: float) -> int:
        return sum(b.calls for b in buckets if b.low >= low)

    within = answered - waited(WITHIN_S)
    desc = t(
        "chart_waits_desc",
        answered=answered,
        within=within,
        over150=waited(150),
        over240=waited(240),
        average=shown(average_s, " s"),
    )
    chart = _Chart("chart-waits", t("chart_waits_title"), desc)
    chart.axes(t("chart_wait_axis"), t("calls"))
    top, step = nice_scale(max(b.calls for b in buckets))
    chart.y_ticks(top, step)
    span = LAST_BUCKET_S + BUCKET_S  # always the same axis: the three lines stay in place

    def x_of(seconds: float) -> float:
        return LEFT + PLOT_W * seconds / span

    for seconds in range(0, LAST_BUCKET_S + 1, 60):
        chart.text(x_of(seconds), TOP + PLOT_H + 16, str(seconds))
    bars = ET.SubElement(chart.root, "g", {"class": "bars"})
    for bucket in buckets:
        if not bucket.calls:
            continue
        high = bucket.high if bucket.high is not None else span
        height = PLOT_H * bucket.calls / top
        bar = ET.SubElement(
            bars,
            "rect",
            {
                "class": "bar",
                "data-low": _num(bucket.low),
                "data-calls": str(bucket.calls),
                "x": _num(x_of(bucket.low) + 0.5),
                "y": _num(TOP + PLOT_H - height),
                "width": _num(x_of(high) - x_of(bucket.low) - 1),
                "height": _num(height),
                "fill": BAR,
                "fill-opacity": "0.8",
            },
        )
        label = (
            f"{_num(bucket.low)}–{_num(bucket.high)} s"
            if bucket.high is not None
            else f"> {_num(bucket.low)} s"
        )
        ET.SubElement(bar, "title").text = t("chart_wait_bar", span=label, calls=bucket.calls)
    lines = [(WITHIN_S, f"AGCOM {_num(WITHIN_S)} s")] + [
        (target.limit, f"{target.source} {target.text()}")
        for target in TARGETS
        if target.unit == " s"
    ]
    for row, (seconds, label) in enumerate(sorted(lines)):
        x = x_of(seconds)
        chart.line(
            x,
            TOP - 4,
            x,
            TOP + PLOT_H,
            TARGET,
            **{"stroke-dasharray": "6 4", "class": "target-line", "data-value": _num(seconds)},
        )
        y = TOP + 10 + 14 * (row % 2)
        chart.text(x + 4, y, label, anchor="start", fill=TARGET, halo=True)
    if average_s is not None:
        x = x_of(min(average_s, span))
        chart.line(
            x,
            TOP + 24,
            x,
            TOP + PLOT_H,
            AVERAGE,
            **{"stroke-width": "2", "class": "average-line", "data-value": _num(average_s)},
        )
        chart.text(
            x + 4,
            TOP + 38,
            t("chart_average", average=shown(average_s, " s")),
            anchor="start",
            fill=AVERAGE,
            halo=True,
        )
    return chart.svg()


def daily_chart(days: Sequence[tuple[date, Kpis]], t: Translate) -> str:
    """Each day's share of queued calls answered (ARERA, 80%) and answered within 20 s
    (AGCOM, 40%) against those two lines; a day with nothing queued has no point."""
    shown_days = [(i, day, k) for i, (day, k) in enumerate(days) if k.offered]
    if not shown_days:
        calls = sum(k.calls for _, k in days)
        message = t("chart_nothing_queued") if calls else t("chart_no_calls")
        return _Chart("chart-days", t("chart_days_title"), message).empty(message)
    desc = t(
        "chart_days_desc",
        days=len(shown_days),
        answered_met=sum((k.answered_pct or 0) >= 80 for _, _, k in shown_days),
        within_met=sum((k.within_20_pct or 0) >= 40 for _, _, k in shown_days),
    )
    chart = _Chart("chart-days", t("chart_days_title"), desc)
    chart.legend(
        [
            ("circle", SERIES, t("chart_answered_share")),
            ("square", SERIES_2, t("within_20_pct")),
        ]
    )
    chart.axes(t("chart_day_axis"), t("chart_share_axis"))
    chart.y_ticks(100, 20, "%")
    slot = PLOT_W / len(days)
    every = max(1, math.ceil(len(days) / 10))
    for i in range(0, len(days), every):
        chart.text(LEFT + slot * i + slot / 2, TOP + PLOT_H + 16, days[i][0].strftime("%d/%m"))
    _target_line(chart, 80, "ARERA", "%")
    _target_line(chart, 40, "AGCOM", "%")
    series = (
        ("answered", SERIES, "circle", lambda k: k.answered_pct, {}),
        ("within20", SERIES_2, "square", lambda k: k.within_20_pct, {"stroke-dasharray": "5 3"}),
    )
    for name, colour, shape, value, dash in series:
        points = [(i, LEFT + slot * i + slot / 2, _pct_y(value(k))) for i, _, k in shown_days]
        for run in _runs(points):
            _polyline(chart.root, run, colour, **dash)
        for (_, x, y), (_, day, k) in zip(points, shown_days, strict=True):
            point = _marker(chart.root, shape, x, y, colour)
            point.set("class", "point")
            point.set("data-series", name)
            point.set("data-day", day.isoformat())
            ET.SubElement(point, "title").text = t(
                "chart_day_point",
                day=day.isoformat(),
                answered=shown(k.answered_pct, "%"),
                within=shown(k.within_20_pct, "%"),
                offered=k.offered,
            )
    return chart.svg()


GROUP_COLOURS = (BAR, SERIES_2, TARGET, AVERAGE)


def grouped_bars(
    ident: str,
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    x_label: str,
    y_label: str,
    empty: str,
) -> str:
    """Counts side by side per group (a week, an area): one bar per series in each group,
    coloured and named in the legend, each with its own ``<title>``. The charts above are
    each for one figure; this one compares a few counts (placed, answered, missed...)."""
    largest = max((v for _, values in series for v in values), default=0)
    if not groups or not largest:
        return _Chart(ident, title, empty).empty(empty)
    totals = "; ".join(f"{name} {sum(values)}" for name, values in series)
    chart = _Chart(ident, title, f"{title} ({groups[0]} – {groups[-1]}): {totals}.")
    chart.legend(
        [("bar", GROUP_COLOURS[i % len(GROUP_COLOURS)], name) for i, (name, _) in enumerate(series)]
    )
    chart.axes(x_label, y_label)
    top, step = nice_scale(largest)
    chart.y_ticks(top, step)
    slot = PLOT_W / len(groups)
    width = slot * 0.8 / len(series)
    every = max(1, math.ceil(len(groups) / 12))
    for i in range(0, len(groups), every):
        chart.text(LEFT + slot * i + slot / 2, TOP + PLOT_H + 16, groups[i][:14])
    bars = ET.SubElement(chart.root, "g", {"class": "bars"})
    for s, (name, values) in enumerate(series):
        colour = GROUP_COLOURS[s % len(GROUP_COLOURS)]
        for i, (group, value) in enumerate(zip(groups, values, strict=True)):
            if not value:
                continue
            height = PLOT_H * value / top
            bar = ET.SubElement(
                bars,
                "rect",
                {
                    "class": "bar",
                    "data-group": group,
                    "data-series": str(s),
                    "data-value": str(value),
                    "x": _num(LEFT + slot * i + slot * 0.1 + width * s),
                    "y": _num(TOP + PLOT_H - height),
                    "width": _num(max(1.0, width - 1)),  # a hairline between bars
                    "height": _num(height),
                    "fill": colour,
                },
            )
            ET.SubElement(bar, "title").text = f"{group}: {name} {value}"
    return chart.svg()
