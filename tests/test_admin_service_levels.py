"""The admin's service levels page: hand-made call records in the city database, read back as the
KPI report's figures and targets, for a period of the city's local days."""

from __future__ import annotations

import html
import re
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from ivr.admin.i18n import TEXTS
from ivr.admin.service_levels import CallRecords
from ivr.db import make_engine, migrate
from ivr.kpi.models import CallRecord
from ivr.kpi.report import TARGETS
from tests.admin_support import city_settings, login, make_app

NOW = datetime(2026, 11, 23, 10, 0)  # a Monday, Europe/Rome (UTC+1 in November)
DAY = datetime(2026, 11, 20, 9, 0)  # UTC, inside 20-22 November


def record(call_id: str, outcome: str, wait: float | None = None, **kw) -> CallRecord:
    values = dict(
        call_id=call_id,
        started_at=DAY,
        path="lingua>principale",
        department="anagrafe",
        queue="anagrafe",
        reason="menu",
        outcome=outcome,
        queue_wait_s=wait,
        said="vorrei la carta d'identità",
    )
    return CallRecord(**{**values, **kw})


def rows() -> list[CallRecord]:
    """Fresh rows for each test's database (an ORM object belongs to one session)."""
    return [
        record("1700000001.1", "answered", 10),
        record("1700000001.2", "answered", 30),
        record("1700000001.3", "abandoned", 40),
        record("1700000001.4", "self_served", department=None, queue=None),
        record("1700000001.5", "answered", 5, department="tributi", queue="tributi"),
        record("1700000001.6", "callback", department="tributi", queue=None),
        # a callback worker's placeholder: a kept place, not a call
        record("1700000001.7", "answered", 900, path="", reason="callback"),
        # 23 November 00:30 in Rome: outside a period ending on the 22nd
        record("1700000001.8", "abandoned", 5, started_at=datetime(2026, 11, 22, 23, 30)),
        # a month earlier: outside
        record("1700000001.9", "answered", 500, started_at=datetime(2026, 10, 1, 9, 0)),
    ]


@pytest.fixture
def app(tmp_path):
    settings = city_settings(tmp_path)
    app = make_app(settings, clock=lambda zone: NOW.replace(tzinfo=zone))
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        with Session(engine) as session, session.begin():
            session.add_all(rows())
    finally:
        engine.dispose()
    return app


def cells(page: str, attr: str, value: str) -> list[str]:
    """The text of each cell of the row whose ``data-<attr>`` is ``value``."""
    row = re.search(rf'<tr[^>]*data-{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', page, re.S)
    assert row, f"no row {attr}={value}"
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row[1], re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]


def target_rows(page: str) -> dict[str, tuple[str, str, str, str]]:
    """Target label -> (css class, city figure, result, departments missing it)."""
    rows = re.findall(r'<tr class="([^"]*)" data-source="[^"]*">(.*?)</tr>', page, re.S)
    out = {}
    for css, body in rows:
        texts = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", body, re.S)
        label, *rest = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in texts]
        out[label] = (css, *rest)
    return out


def test_figures_and_targets_for_a_period_of_the_citys_days(app):
    viewer = login(app, "viewer")
    response = viewer.get("/service-levels?from=2026-11-20&to=2026-11-22")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Calls from 2026-11-20 to 2026-11-22 (Europe/Rome)" in page
    # department, calls, served, queued, answered, abandoned, avg wait, within 20 s, callbacks
    assert cells(page, "department", "anagrafe")[1:] == [
        "3",
        "66.7%",
        "3",
        "66.7%",
        "33.3%",
        "20 s",
        "33.3%",
        "0",
    ]
    assert cells(page, "department", "tributi")[1:] == [
        "2",
        "50.0%",
        "1",
        "100.0%",
        "0.0%",
        "5 s",
        "100.0%",
        "1",
    ]
    assert cells(page, "department", "(ivr only)")[1:3] == ["1", "100.0%"]
    city = cells(page, "department", "city")
    assert city == ["Whole city", "6", "66.7%", "4", "75.0%", "25.0%", "15 s", "50.0%", "1"]
    targets = target_rows(page)
    assert targets["AGCOM · average wait to an operator ≤ 150 s"] == (
        "target-met",
        "15 s",
        "met",
        "-",
    )
    assert targets["AGCOM · answered within 20 s ≥ 40%"][1:] == ("50.0%", "met", "Registry office")
    missed = targets["060606 · abandoned in queue < 3%"]
    assert missed[0] == "target-missed bad" and missed[1:3] == ("25.0%", "MISSED")
    assert targets["ARERA · service level (answered) ≥ 80%"][1:] == (
        "75.0%",
        "MISSED",
        "Registry office",
    )
    # aggregates only: no call id, nothing the caller said
    assert "1700000001" not in page and "identità" not in page
    # the plots, inline, above the tables: 6 calls at 10:00 in Rome, 3 answered of 4 queued
    charts = re.findall(r'<svg [^>]*id="(chart-[a-z]+)"', page)
    assert charts == ["chart-hours", "chart-waits", "chart-days"]
    assert page.index('id="charts"') < page.index('id="figures"')
    assert re.search(r'class="bar" data-hour="10" data-calls="6"', page)
    assert "3 answered calls: 2 within 20 s" in page  # the waits chart's description


def test_the_default_period_is_the_last_30_days_including_today(app):
    page = login(app, "editor").get("/service-levels").get_data(as_text=True)
    assert 'name="from" value="2026-10-25"' in page and 'name="to" value="2026-11-23"' in page
    city = cells(page, "department", "city")
    assert city[1] == "7"  # the six of the 20th and the one just after midnight on the 23rd


def test_an_empty_period_shows_dashes_and_misses_nothing(app):
    page = login(app, "viewer").get("/service-levels?from=2026-01-01&to=2026-01-31")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert cells(text, "department", "city")[1:] == ["0", "-", "0", "-", "-", "-", "-", "0"]
    targets = target_rows(text)
    assert len(targets) == len(TARGETS)
    assert all(row == ("target-none", "-", "-", "-") for row in targets.values())
    assert "MISSED" not in text
    # the plots say there is nothing to plot, rather than drawing empty frames
    assert text.count('class="empty"') == 3 and 'class="bar"' not in text
    assert "No calls in this period" in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-02-30", "Invalid date"),
        ("to=23/11/2026", "Invalid date"),
        ("from=2026-11-22&to=2026-11-20", "The start date is after the end date."),
        ("from=2024-01-01&to=2026-11-20", "The period is too long: 366 days at most."),
    ],
)
def test_bad_periods_are_refused_with_a_clear_error(app, query, message):
    response = login(app, "viewer").get(f"/service-levels?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page and 'role="alert"' in page
    assert 'id="figures"' not in page


def test_who_may_see_it(app):
    assert login(app, None).get("/service-levels").status_code == 302
    assert login(app, "operator").get("/service-levels").status_code == 403
    for role in ("viewer", "editor", "admin"):
        client = login(app, role)
        assert client.get("/service-levels").status_code == 200
        assert 'href="/service-levels"' in client.get("/live").get_data(as_text=True)
    assert 'href="/service-levels"' not in login(app, "operator").get("/live").get_data(True)


def test_a_database_that_does_not_answer_is_said_not_shown_as_zeros(app, tmp_path):
    import dataclasses

    from ivr.admin.services import install, services

    missing = CallRecords(f"sqlite:///{tmp_path / 'missing' / 'city.db'}")
    install(app, dataclasses.replace(services(app), call_records=missing))
    response = login(app, "viewer").get("/service-levels")
    assert response.status_code == 503
    assert "The call database does not answer" in response.get_data(as_text=True)


def test_the_page_speaks_italian_including_each_targets_wording(app):
    assert all(set(TEXTS[t.what]) == {"it", "en"} for t in TARGETS)
    viewer = login(app, "viewer")
    viewer.post("/lang", data={"lang": "it", "csrf_token": viewer.csrf, "back": "/"})
    page = viewer.get("/service-levels?from=2026-11-20&to=2026-11-22").get_data(as_text=True)
    assert "Livelli di servizio" in page and "abbandoni in coda" in page and "MANCATO" in page


def test_in_a_real_browser_the_table_shows_and_a_missed_target_is_marked(app, tmp_path):
    """Debian's headless Chromium (no Asterisk needed): nav link, period form, both tables."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.admin_support import PASSWORD
    from tests.test_admin_browser import AdminServer, chromium

    server, b = AdminServer(app), chromium(tmp_path)
    try:
        b.get(server.url + "/login")
        b.find_element(By.ID, "username").send_keys("viewer", Keys.TAB)
        b.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
        nav = WebDriverWait(b, 10).until(
            EC.presence_of_element_located((By.LINK_TEXT, "Service levels"))
        )
        nav.click()
        WebDriverWait(b, 10).until(EC.presence_of_element_located((By.ID, "figures")))
        for name, day in (("from", "2026-11-20"), ("to", "2026-11-22")):
            b.execute_script("arguments[0].value = arguments[1]", b.find_element(By.ID, name), day)
        b.find_element(By.CSS_SELECTOR, "#period button[type=submit]").click()
        WebDriverWait(b, 10).until(EC.url_contains("to=2026-11-22"))
        city = b.find_element(By.CSS_SELECTOR, '#figures tr[data-department="city"]')
        figures = ["6", "66.7%", "4", "75.0%", "25.0%", "15", "s", "50.0%", "1"]
        assert city.text.split()[2:] == figures  # after "Whole city"
        missed = b.find_element(By.CSS_SELECTOR, '#targets tr.target-missed[data-source="060606"]')
        assert "MISSED" in missed.text and "25.0%" in missed.text
        mark = missed.find_element(By.CSS_SELECTOR, "strong.missing")
        assert mark.value_of_css_property("color") == "rgba(179, 38, 30, 1)"  # the alarm red
        assert len(b.find_elements(By.CSS_SELECTOR, "#targets tr.target-met")) == 3
        # the plots are drawn: three images of real size, their bars and target lines shown
        plots = b.find_elements(By.CSS_SELECTOR, "#charts svg[role=img]")
        assert [p.get_attribute("id") for p in plots] == [
            "chart-hours",
            "chart-waits",
            "chart-days",
        ]
        assert all(p.size["width"] > 300 and p.size["height"] > 100 for p in plots)
        bars = b.find_elements(By.CSS_SELECTOR, "#chart-waits rect.bar")
        assert [bar.get_attribute("data-calls") for bar in bars] == ["2", "1"]  # 5+10 s, 30 s
        assert all(bar.size["height"] > 0 for bar in bars)
        lines = b.find_elements(By.CSS_SELECTOR, "#chart-waits line.target-line")
        assert [line.get_attribute("data-value") for line in lines] == ["20", "150", "240"]
        assert b.find_element(By.ID, "chart-hours-title").get_attribute("textContent") == (
            "Calls and answered share per hour of the day"
        )
    finally:
        b.quit()
        server.stop()
