"""The service levels page's plots: figures per hour/day/wait (ivr/kpi/series.py) and their SVG
(ivr/admin/charts.py), checked as parsed XML, not as strings."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from ivr.admin import charts
from ivr.admin.i18n import TEXTS, translate
from ivr.kpi.report import Kpis, kpis, summarise
from ivr.kpi.series import WaitBucket, series, wait_buckets

ROME = ZoneInfo("Europe/Rome")
NS = {"s": charts.SVG_NS}


def en(key: str, /, **kw) -> str:
    return translate("en", key, **kw)


def rec(started: datetime | None, outcome: str, wait: float | None = None, **kw):
    values = dict(
        started_at=started,
        outcome=outcome,
        queue_wait_s=wait,
        reason="menu",
        path="lingua>principale",
        department="anagrafe",
        queue="anagrafe",
    )
    return SimpleNamespace(**{**values, **kw})


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{{{charts.SVG_NS}}}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iterfind(".//s:text", NS)]


def accessible_name(root: ET.Element) -> tuple[str, str]:
    """The chart's <title> and <desc>, found through its aria-labelledby (role img)."""
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    title = root.find(f"s:title[@id='{title_id}']", NS)
    desc = root.find(f"s:desc[@id='{desc_id}']", NS)
    assert title is not None and desc is not None
    return title.text, desc.text


def elements(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


RECORDS = [
    rec(datetime(2026, 11, 20, 8, 5), "answered", 10),  # 09:05 in Rome
    rec(datetime(2026, 11, 20, 8, 40), "answered", 20),  # exactly 20 s: within 20 s
    rec(datetime(2026, 11, 20, 8, 50), "abandoned", 40),
    rec(datetime(2026, 11, 20, 13, 0), "answered", 155),  # 14:00
    rec(datetime(2026, 11, 20, 13, 10), "self_served", department=None, queue=None),
    rec(datetime(2026, 11, 21, 9, 0), "answered", 400),  # the 21st, 10:00
    rec(datetime(2026, 11, 22, 23, 30), "hung_up", department=None, queue=None),  # 00:30 on 23rd
    # a callback placeholder: a kept place, not a call
    rec(datetime(2026, 11, 20, 8, 0), "answered", 900, path="", reason="callback"),
]


def test_series_slices_the_records_by_local_hour_and_day_like_the_report():
    s = series(RECORDS, ROME, date(2026, 11, 20), date(2026, 11, 23))
    assert [h for h, k in enumerate(s.hours) if k.calls] == [0, 9, 10, 14]
    assert s.hours[9] == kpis(RECORDS[:3])
    assert (s.hours[14].calls, s.hours[14].answered, s.hours[14].offered) == (2, 1, 1)
    assert [d for d, _ in s.days] == [date(2026, 11, d) for d in (20, 21, 22, 23)]
    assert [k.calls for _, k in s.days] == [5, 1, 0, 1]
    # every call counted once: the hours add up to the report's city
    city = summarise(RECORDS).city
    assert sum(k.calls for k in s.hours) == city.calls == 7
    assert s.answered == city.answered == 4
    # waits: 10 and 20 in the first two buckets (upper edge included), 155, and > 300 s
    assert [(b.low, b.calls) for b in s.waits if b.calls] == [(0, 1), (10, 1), (150, 1), (300, 1)]
    assert s.waits[-1].high is None and len(s.waits) == 31


def test_wait_buckets_empty_and_edges():
    assert wait_buckets([]) == ()
    assert wait_buckets([0.0]) == (WaitBucket(0, 10, 1),)
    assert [b.calls for b in wait_buckets([20.0, 20.5])] == [0, 1, 1]
    assert wait_buckets([301.0])[-1] == WaitBucket(300, None, 1)


def test_hourly_chart_has_a_bar_per_hour_with_calls_and_a_point_per_hour_with_queued_calls():
    s = series(RECORDS, ROME, date(2026, 11, 20), date(2026, 11, 23))
    root = parse(charts.hourly_chart(s.hours, en))
    title, desc = accessible_name(root)
    assert title == "Calls and answered share per hour of the day"
    assert "7 calls" in desc and "09:00" in desc and "80.0%" in desc  # 4 of 5 queued
    bars = {b.get("data-hour"): b.get("data-calls") for b in elements(root, "bar")}
    assert bars == {"0": "1", "9": "3", "10": "1", "14": "2"}
    assert [p.get("data-hour") for p in elements(root, "point")] == ["9", "10", "14"]
    for bar in elements(root, "bar"):  # each bar says what it is, for a pointer or a reader
        assert bar.find("s:title", NS).text
    nine = next(b for b in elements(root, "bar") if b.get("data-hour") == "9")
    assert nine.find("s:title", NS).text == "09:00–10:00: 3 calls, 66.7% answered"
    shown = texts(root)
    assert title in shown  # visible too, not only for screen readers
    assert "Hour of the day" in shown and "Calls" in shown and "Answered (of queued)" in shown
    assert [e.get("data-value") for e in elements(root, "target-line")] == ["80"]
    # the tallest bar (3 calls) is the tallest drawn
    heights = {b.get("data-hour"): float(b.get("height")) for b in elements(root, "bar")}
    assert max(heights, key=heights.get) == "9"


def test_wait_chart_draws_the_20_150_240_lines_and_the_average():
    s = series(RECORDS, ROME, date(2026, 11, 20), date(2026, 11, 23))
    average = summarise(RECORDS).city.avg_wait_s
    root = parse(charts.wait_chart(s.waits, s.answered, average, en))
    title, desc = accessible_name(root)
    assert title == "Wait before an operator answered"
    assert desc == (
        "4 answered calls: 2 within 20 s, 2 after more than 150 s, 1 after more than 240 s;"
        " average wait 146 s."
    )
    bars = [(b.get("data-low"), b.get("data-calls")) for b in elements(root, "bar")]
    assert bars == [("0", "1"), ("10", "1"), ("150", "1"), ("300", "1")]
    lines = [e.get("data-value") for e in elements(root, "target-line")]
    assert lines == ["20", "150", "240"]
    assert {"AGCOM 20 s", "AGCOM ≤ 150 s", "ARERA ≤ 240 s"} <= set(texts(root))
    xs = [float(e.get("x1")) for e in elements(root, "target-line")]
    assert xs == sorted(xs)  # placed along the seconds axis in order
    assert [e.get("data-value") for e in elements(root, "average-line")] == ["146.2"]
    assert "Wait in queue (seconds)" in texts(root)


def test_daily_chart_has_two_points_per_day_with_queued_calls_against_80_and_40():
    s = series(RECORDS, ROME, date(2026, 11, 20), date(2026, 11, 23))
    root = parse(charts.daily_chart(s.days, en))
    title, desc = accessible_name(root)
    assert title == "Service level day by day"
    # the 20th: 3 of 4 answered (75%), 2 within 20 s (50%); the 21st: 1 of 1, none within
    assert (
        desc
        == "2 days with queued calls: at least 80% answered on 1, at least 40% within 20 s on 1."
    )
    points = [(p.get("data-series"), p.get("data-day")) for p in elements(root, "point")]
    assert points == [
        ("answered", "2026-11-20"),
        ("answered", "2026-11-21"),
        ("within20", "2026-11-20"),
        ("within20", "2026-11-21"),
    ]
    assert [e.get("data-value") for e in elements(root, "target-line")] == ["80", "40"]
    assert {"Day", "Queued calls", "ARERA 80%", "AGCOM 40%"} <= set(texts(root))


@pytest.mark.parametrize(
    ("draw", "message"),
    [
        (lambda: charts.hourly_chart([Kpis(0, 0, 0, 0, 0, 0, None, 0)] * 24, en), "No calls"),
        (lambda: charts.wait_chart((), 0, None, en), "No call answered by an operator"),
        (lambda: charts.daily_chart([], en), "No calls in this period"),
        (
            lambda: charts.daily_chart([(date(2026, 11, 20), kpis([rec(None, "hung_up")]))], en),
            "No call queued for an operator",
        ),
    ],
)
def test_no_data_says_so_instead_of_drawing_an_empty_frame(draw, message):
    root = parse(draw())
    _title, desc = accessible_name(root)
    assert message in desc
    assert [e.text for e in elements(root, "empty")] == [desc]
    assert not elements(root, "bar") and not elements(root, "point")
    assert not root.findall(".//s:polyline", NS)


def test_texts_are_escaped():
    hostile = '<script>alert("x")</script> & "quoted"'

    def t(key: str, /, **kw) -> str:
        return hostile

    s = series(RECORDS, ROME, date(2026, 11, 20), date(2026, 11, 23))
    for svg in (
        charts.hourly_chart(s.hours, t),
        charts.wait_chart(s.waits, s.answered, 10.0, t),
        charts.daily_chart(s.days, t),
        charts.daily_chart([], t),
    ):
        assert "<script" not in svg and "&lt;script&gt;" in svg
        root = parse(svg)
        assert accessible_name(root)[0] == hostile


def test_every_chart_text_exists_in_both_languages():
    keys = [k for k in TEXTS if k.startswith("chart")]
    assert len(keys) > 10 and all(set(TEXTS[k]) == {"it", "en"} for k in keys)


@pytest.mark.parametrize(
    ("largest", "scale"),
    [(0, (1, 1)), (1, (1, 1)), (3, (3, 1)), (7, (8, 2)), (60, (60, 20)), (126, (150, 50))],
)
def test_count_axes_end_on_a_round_number(largest, scale):
    assert charts.nice_scale(largest) == scale
