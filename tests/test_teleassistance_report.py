"""The teleassistance report (issue 13): per week and per area, calls placed (attempts),
citizens called, answered and missed weeks, the answer rate, alarms raised and closed, the time
to handle them and the open ones' age — from a small hand-made set of calls whose figures are
worked out below; read from the tables on SQLite and PostgreSQL; on the admin's page (the
teleassistance staff and admins only, plots and a CSV of the same figures) and from
``ivr teleassistance report``. Never a name, a number or a citizen's id."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy.orm import Session

from ivr.teleassistance import report as figures
from ivr.teleassistance.models import Alarm, CallAttempt, Citizen, WeekCall
from ivr.teleassistance.report import AlarmRow, CallRow, build
from tests.admin_support import city_settings, login, make_app

W46, W47, W48, W49 = "2026-W46", "2026-W47", "2026-W48", "2026-W49"
EVERY = "*"  # the CSV's every-area row
NOW = datetime(2026, 11, 27, 13, 0)  # Friday of W48, local time

# Citizens: 1 and 2 in Centro, 3 in Borgo, 4 without an area.
AREAS = {1: "Centro", 2: "Centro", 3: "Borgo", 4: ""}
NAMES = {1: "Maria Rossi", 2: "Gino Verdi", 3: "Lia Neri", 4: "Ada Bassi"}
# (citizen, week, state, attempts)
CALLS = [
    (1, W47, "answered", 2),
    (2, W47, "missed", 3),
    (3, W47, "answered", 1),
    (4, W47, "not_called", 0),
    (1, W48, "answered", 1),
    (2, W48, "missed", 3),
    (3, W48, "missed", 3),
    (4, W48, "planned", 0),
    (1, W49, "answered", 1),  # outside the range asked
]
# (citizen, week, raised, closed)
ALARMS = [
    (4, W47, datetime(2026, 11, 20, 9, 0), datetime(2026, 11, 20, 10, 30)),  # 90 min
    (2, W48, datetime(2026, 11, 27, 10, 0), datetime(2026, 11, 27, 10, 45)),  # 45 min
    (3, W48, datetime(2026, 11, 27, 11, 0), None),  # open: 120 min at NOW
    (3, W46, datetime(2026, 11, 13, 11, 0), None),  # outside the range asked
]


def rows() -> tuple[list[CallRow], list[AlarmRow]]:
    return (
        [CallRow(w, AREAS[c], s, n) for c, w, s, n in CALLS],
        [AlarmRow(w, AREAS[c], r, x) for c, w, r, x in ALARMS],
    )


def expect_known_figures(found: figures.Report) -> None:
    """The hand-worked figures of CALLS and ALARMS over W47-W48."""
    assert found.weeks == (W47, W48)
    assert found.areas == ("", "Borgo", "Centro")
    w47, w48, total = found.cell(W47), found.cell(W48), found.total
    assert (w47.calls_placed, w47.citizens_called, w47.answered, w47.missed) == (6, 3, 2, 1)
    assert w47.not_called == 1 and round(w47.answer_rate, 1) == 66.7
    assert (w47.alarms_raised, w47.alarms_closed, w47.alarms_open) == (1, 1, 0)
    assert (w47.handle_median_min, w47.handle_max_min, w47.oldest_open_min) == (90, 90, None)
    assert (w48.calls_placed, w48.citizens_called, w48.answered, w48.missed) == (7, 3, 1, 2)
    assert (w48.alarms_raised, w48.alarms_closed, w48.alarms_open) == (2, 1, 1)
    assert (w48.handle_median_min, w48.handle_max_min, w48.oldest_open_min) == (45, 45, 120)
    assert (total.calls_placed, total.citizens_called, total.answered, total.missed) == (
        13,
        6,
        3,
        3,
    )
    assert total.answer_rate == 50
    assert (total.alarms_raised, total.alarms_closed, total.alarms_open) == (3, 2, 1)
    assert (total.handle_median_min, total.handle_max_min, total.oldest_open_min) == (
        67.5,
        90,
        120,
    )
    centro, borgo, nowhere = (found.totals[a] for a in ("Centro", "Borgo", ""))
    assert (centro.calls_placed, centro.answered, centro.missed, centro.alarms_raised) == (
        9,
        2,
        2,
        1,
    )
    assert centro.handle_median_min == 45 and centro.answer_rate == 50
    assert (borgo.calls_placed, borgo.answered, borgo.missed, borgo.alarms_open) == (4, 1, 1, 1)
    assert borgo.oldest_open_min == 120
    assert (nowhere.calls_placed, nowhere.citizens_called, nowhere.not_called) == (0, 0, 1)
    assert nowhere.answer_rate is None and nowhere.handle_max_min == 90
    cell = found.cells[(W48, "Borgo")]
    assert (cell.calls_placed, cell.missed, cell.alarms_open, cell.answer_rate) == (3, 1, 1, 0)


# -- The pure core ---------------------------------------------------------------------------


def test_the_figures_of_a_hand_made_set():
    calls, alarms = rows()
    expect_known_figures(build([W47, W48], calls, alarms, NOW))


def test_weeks_without_calls_are_there_with_zeros_and_no_rates():
    found = build(figures.weeks_between("2026-W52", "2027-W02"), [], [], NOW)
    assert found.weeks == ("2026-W52", "2026-W53", "2027-W01", "2027-W02")  # 2026 has a W53
    assert found.areas == ()
    empty = found.cell("2026-W53")
    assert empty.calls_placed == 0 and empty.answer_rate is None
    assert empty.handle_median_min is None and empty.oldest_open_min is None


def test_week_keys_are_read_and_ranges_checked():
    assert figures.week_key(date(2026, 11, 25)) == W48
    assert figures.week_key(date(2027, 1, 1)) == "2026-W53"
    assert figures.parse_week("2026-w5") == "2026-W05"
    assert figures.parse_week(" 2026W48 ") == W48
    assert figures.last_weeks(date(2026, 11, 25), 3) == ("2026-W46", W48)
    assert figures.week_range(W47, W48) == (W47, W48)
    for first, last, field in (
        ("2026-48", W48, "from"),
        ("2025-W53", W48, "from"),  # 2025 has 52 weeks
        (W48, W47, "to"),
        ("2024-W01", W48, "to"),  # more than two years
    ):
        with pytest.raises(figures.WeekError) as err:
            figures.week_range(first, last)
        assert err.value.field == field


def test_the_csv_has_every_week_and_area_and_the_period():
    calls, alarms = rows()
    text = figures.to_csv(build([W47, W48], calls, alarms, NOW))
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == list(figures.COLUMNS)
    keyed = {(r["week"], r["area"]): r for r in table}
    assert list(keyed) == [
        (W47, EVERY),
        (W47, ""),
        (W47, "Borgo"),
        (W47, "Centro"),
        (W48, EVERY),
        (W48, ""),
        (W48, "Borgo"),
        (W48, "Centro"),
        ("total", EVERY),
        ("total", ""),
        ("total", "Borgo"),
        ("total", "Centro"),
    ]
    assert keyed[("total", EVERY)] == {
        "week": "total",
        "area": EVERY,
        "calls_placed": "13",
        "citizens_called": "6",
        "answered": "3",
        "missed": "3",
        "not_called": "1",
        "answer_rate_pct": "50",
        "alarms_raised": "3",
        "alarms_closed": "2",
        "alarms_open": "1",
        "handle_median_min": "67.5",
        "handle_max_min": "90",
        "oldest_open_min": "120",
    }
    assert keyed[(W47, EVERY)]["answer_rate_pct"] == "66.7"
    assert keyed[(W47, "")]["answer_rate_pct"] == ""  # nothing decided: nothing to measure


def test_an_area_that_looks_like_a_formula_or_all_areas_is_neither():
    calls = [CallRow(W48, "=HYPERLINK(1)", "answered", 1), CallRow(W48, "*", "missed", 3)]
    found = build([W48], calls, [], NOW)
    assert found.areas == ("*", "=HYPERLINK(1)")
    assert found.cell(W48).calls_placed == 4 and found.cell(W48, "*").calls_placed == 3
    table = list(csv.reader(io.StringIO(figures.to_csv(found))))
    assert [(r[0], r[1], r[2]) for r in table[1:4]] == [
        (W48, "*", "4"),
        (W48, "'*", "3"),
        (W48, "'=HYPERLINK(1)", "1"),
    ]


# -- The store -------------------------------------------------------------------------------


def fill(url: str) -> None:
    """CALLS and ALARMS as the weekly calls leave them in the city database."""
    from ivr.db import ready

    with Session(ready(url)) as db, db.begin():
        for cid, area in AREAS.items():
            db.add(
                Citizen(
                    id=cid,
                    name=NAMES[cid],
                    name_key=NAMES[cid].lower(),
                    language="it",
                    area=area,
                    area_key=area.lower(),
                    weekdays="mon,fri",
                    window_start=time(9),
                    window_end=time(12),
                    call_kind="automatic",
                    consent_on=date(2026, 11, 1),
                    consent_by="staff",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        db.flush()
        for cid, week, state, attempts in CALLS:
            planned = datetime.combine(figures.monday(week), time(9, 30))
            call = WeekCall(
                citizen_id=cid,
                week=week,
                kind="automatic",
                planned_at=planned,
                window_end=planned.replace(hour=12),
                minutes=1,
                state=state,
                attempts=attempts,
            )
            db.add(call)
            db.flush()
            for n in range(1, attempts + 1):
                outcome = "answered" if state == "answered" and n == attempts else "no_answer"
                started = planned + timedelta(minutes=30 * (n - 1))
                db.add(
                    CallAttempt(
                        call_id=call.id,
                        citizen_id=cid,
                        n=n,
                        key=f"nu-ta-{call.id}-{n}",
                        started_at=started,
                        ended_at=started + timedelta(seconds=40),
                        outcome=outcome,
                    )
                )
        for cid, week, raised, closed in ALARMS:
            db.add(
                Alarm(
                    citizen_id=cid,
                    week=week,
                    raised_at=raised,
                    state="open" if closed is None else "closed",
                    closed_at=closed,
                    closed_by=None if closed is None else "teleassistance",
                    outcome=None if closed is None else "well",
                )
            )
    if url.startswith("postgresql"):  # ids given by hand: move the sequence past them
        from sqlalchemy import text

        with ready(url).begin() as con:
            con.execute(text("SELECT setval('teleassistance_citizens_id_seq', 10)"))


def test_the_tables_give_the_same_figures(booking_url):
    from ivr.db import ready

    fill(booking_url)
    calls, alarms = figures.query(ready(booking_url), W47, W48)
    assert sorted(calls, key=repr) == sorted((r for r in rows()[0] if r.week != W49), key=repr)
    assert len(alarms) == 3 and {a.week for a in alarms} == {W47, W48}
    expect_known_figures(figures.report(ready(booking_url), W47, W48, NOW))


# -- The admin -------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    settings = city_settings(tmp_path)
    fill(settings.database_url)
    return make_app(settings, clock=lambda zone: NOW.replace(tzinfo=zone))


PERIOD = f"?from={W47}&to={W48}"


def no_personal_data(text: str) -> None:
    for name in NAMES.values():
        for piece in name.split():
            assert piece not in text, piece
    assert "nu-ta-" not in text


def test_the_teleassistance_staff_and_admins_see_the_report_others_are_refused(app):
    for role in ("teleassistance", "admin"):
        response = login(app, role).get("/teleassistance/report" + PERIOD)
        assert response.status_code == 200, role
    for role in ("editor", "viewer", "operator"):
        client = login(app, role)
        assert client.get("/teleassistance/report" + PERIOD).status_code == 403, role
        assert client.get("/teleassistance/report.csv" + PERIOD).status_code == 403, role
    assert login(app, None).get("/teleassistance/report").status_code in (302, 401)


def test_the_page_plots_and_tabulates_the_figures(app):
    client = login(app, "teleassistance")
    assert 'href="/teleassistance/report"' in client.get("/teleassistance").get_data(True)
    page = client.get("/teleassistance/report" + PERIOD).get_data(as_text=True)
    for chart in ("chart-ta-calls", "chart-ta-alarms", "chart-ta-areas"):
        assert '<svg xmlns="http://www.w3.org/2000/svg"' in page and f'id="{chart}"' in page
    assert "<script" not in page.split("<main", 1)[-1].split("</main>")[0]
    # W48's bars: 7 placed, 1 answered, 2 missed; its alarms: 2 raised, 1 closed, 1 open.
    for series, value in (("0", 7), ("1", 1), ("2", 2)):
        assert f'data-group="{W48}" data-series="{series}" data-value="{value}"' in page
    assert "Calls per week" in page and "Alarms per week" in page
    assert '<tr data-week="total" data-area="*" class="total">' in page
    total_row = page.split('data-week="total" data-area="*"')[1].split("</tr>")[0]
    cells = [c.split("<")[0] for c in total_row.split("<td>")[2:]]
    assert cells == ["13", "6", "3", "3", "1", "50%", "3", "2", "1", "67.5", "90", "120"]
    assert f'href="/teleassistance/report.csv?from={W47}&amp;to={W48}"' in page
    no_personal_data(page)


def test_the_page_in_italian(app):
    client = login(app, "teleassistance")
    client.post("/lang", data={"lang": "it", "csrf_token": client.csrf})
    page = client.get("/teleassistance/report" + PERIOD).get_data(as_text=True)
    assert "Chiamate per settimana" in page and "Allarmi per settimana" in page
    assert "Tasso di risposta" in page and "tutte le zone" in page


def test_the_csv_download_has_the_pages_figures(app):
    client = login(app, "teleassistance")
    response = client.get("/teleassistance/report.csv" + PERIOD)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f"teleassistance-{W47}-{W48}.csv" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    calls, alarms = rows()
    assert text == figures.to_csv(build([W47, W48], calls, alarms, NOW))
    no_personal_data(text)


def test_a_bad_week_is_named_and_nothing_is_shown(app):
    client = login(app, "teleassistance")
    response = client.get("/teleassistance/report?from=last+week&to=2026-W48")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="period-error"' in page and "2026-W48" in page and "From" in page
    assert "<svg" not in page
    assert client.get("/teleassistance/report.csv?from=2026-W48&to=2026-W40").status_code == 400


def test_the_default_is_the_last_eight_weeks(app):
    page = login(app, "teleassistance").get("/teleassistance/report").get_data(as_text=True)
    assert 'value="2026-W41"' in page and 'value="2026-W48"' in page
    assert 'data-week="2026-W41"' in page and 'data-week="2026-W46"' in page


# -- The command -----------------------------------------------------------------------------


def test_the_command_prints_the_figures_and_the_csv(tmp_path, capsys):
    from ivr.cli import build_parser
    from ivr.db import ready
    from ivr.teleassistance.cli import run
    from ivr.teleassistance.store import TeleassistanceStore

    settings = city_settings(tmp_path)
    fill(settings.database_url)
    store = TeleassistanceStore(ready(settings.database_url))

    def command(*words: str) -> int:
        return run(
            build_parser().parse_args(["teleassistance", "report", *words]), store, lambda: NOW
        )

    assert command("--weeks", "2") == 0
    out = capsys.readouterr().out
    assert f"weeks {W47} to {W48}" in out
    total = next(line for line in out.splitlines() if line.startswith("total     (all)"))
    assert total.split()[2:] == ["13", "6", "3", "3", "50%", "3", "2", "1", "67.5", "90", "120"]
    no_personal_data(out)

    assert command("--weeks", "2", "--csv") == 0
    calls, alarms = rows()
    assert capsys.readouterr().out == figures.to_csv(build([W47, W48], calls, alarms, NOW))

    assert command("--weeks", "0") == 2
    assert "--weeks: 1 to 104" in capsys.readouterr().err


def test_grouped_bars_draw_each_count_with_its_title_and_say_when_empty():
    from xml.etree import ElementTree as ET

    from ivr.admin.charts import grouped_bars

    svg = grouped_bars(
        "g",
        "Calls <per> week",
        [W47, W48],
        [("placed", [6, 7]), ("answered", [2, 0])],
        x_label="Week",
        y_label="Calls",
        empty="nothing",
    )
    root = ET.fromstring(svg)  # well-formed: the < in the title is escaped
    ns = {"s": "http://www.w3.org/2000/svg"}
    bars = root.findall(".//s:rect[@class='bar']", ns)
    assert [(b.get("data-group"), b.get("data-value")) for b in bars] == [
        (W47, "6"),
        (W48, "7"),
        (W47, "2"),  # a zero draws no bar
    ]
    assert [b.find("s:title", ns).text for b in bars][0] == f"{W47}: placed 6"
    assert "placed 13; answered 2" in root.find("s:desc", ns).text
    empty = grouped_bars("g", "t", [W47], [("placed", [0])], x_label="", y_label="", empty="none")
    assert 'class="empty"' in empty and "none" in empty and 'class="bar"' not in empty
