"""The admin's teleassistance desk: the teleassistance staff and admins only; open alarms
first with the citizen's sheet and emergency contacts, closed with an outcome (who and when
kept, a second close refused naming who did); the day's calls with numbers masked and each
call's outcome; bad input refused naming the field; the banner when no call goes out; the
audit holds ids, never names, numbers or notes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.admin.models import AuditEntry
from ivr.db import ready
from ivr.teleassistance.models import Alarm, WeekCall
from tests.admin_support import city_settings, login, make_app, post
from tests.test_teleassistance_desk_store import alarm, enrol, week_call

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 10:00 in Rome, a Wednesday
LOCAL = datetime(2026, 11, 25, 10, 0)
PERSONAL = ("Maria", "Rossi", "Anna", "Bianchi", "12345678", "1112222", "Vicina", "piano")


def make(tmp_path, now: datetime = NOW, **settings):
    tmp_path.mkdir(exist_ok=True)
    values = {"teleassistance_dial": "PJSIP/{number}@trunk", **settings}
    app = make_app(city_settings(tmp_path, **values), clock=lambda zone: now.astimezone(zone))
    return app, app.extensions["numero_unico_admin"].settings.database_url


@pytest.fixture
def app(tmp_path):
    return make(tmp_path)[0]


def audit_rows(app) -> list[AuditEntry]:
    with app.config["SESSIONS"]() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action.like("tadesk%"))))


def stored_alarm(url: str, alarm_id: int) -> Alarm:
    with Session(ready(url)) as db:
        return db.get(Alarm, alarm_id)


@pytest.mark.parametrize(("role", "status"), [("teleassistance", 200), ("admin", 200)])
def test_the_teleassistance_staff_and_admins_open_the_desk(app, role, status):
    client = login(app, role)
    page = client.get("/teleassistance/desk")
    assert page.status_code == status
    assert 'href="/teleassistance/desk"' in page.get_data(as_text=True)


@pytest.mark.parametrize("role", ["editor", "viewer", "operator"])
def test_other_roles_are_refused_every_page_and_form(app, role):
    client = login(app, role)
    for path in (
        "/teleassistance/desk",
        "/teleassistance/desk/live",
        "/teleassistance/desk/calls/1",
    ):
        assert client.get(path).status_code == 403, path
    assert (
        post(client, "/teleassistance/desk/alarms/1/close", {"outcome": "well"}).status_code == 403
    )
    assert (
        post(client, "/teleassistance/desk/calls/1/outcome", {"outcome": "well"}).status_code == 403
    )
    anonymous = app.test_client().get("/teleassistance/desk")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_an_open_alarm_comes_first_with_the_sheet_and_contacts(app):
    url = app.extensions["numero_unico_admin"].settings.database_url
    maria = enrol(url)
    alarm_id = alarm(url, maria, LOCAL - timedelta(hours=3, minutes=5))
    week_call(url, maria, LOCAL.replace(hour=11), state="planned")
    page = login(app, "teleassistance").get("/teleassistance/desk").get_data(as_text=True)
    assert page.index(f'id="alarm-{alarm_id}"') < page.index('id="today"')
    card = page[page.index(f'id="alarm-{alarm_id}"') : page.index('id="current"')]
    assert "three weeks with no answer (2026-W48)" in card
    assert "Maria Rossi" in card and "0612345678, 3331234567" in card
    assert "Borgo San Paolo" in card and "Sente poco: parlare piano" in card
    assert "Anna Bianchi (daughter): 3331112222" in card
    assert "Open for 3 h 5 min" in card  # raised at 06:55, now 10:00 (local, as calls.py)


def test_closing_an_alarm_records_who_and_when_and_a_second_close_is_refused(app):
    url = app.extensions["numero_unico_admin"].settings.database_url
    alarm_id = alarm(url, enrol(url), LOCAL - timedelta(days=1))
    client = login(app, "teleassistance")
    done = post(
        client,
        f"/teleassistance/desk/alarms/{alarm_id}/close",
        {"outcome": "social_services", "notes": "Vicina avvisata"},
        follow_redirects=True,
    )
    assert f"Alarm #{alarm_id} closed." in done.get_data(as_text=True)
    row = stored_alarm(url, alarm_id)
    assert (row.state, row.closed_by, row.outcome) == (
        "closed",
        "teleassistance",
        "social_services",
    )
    assert row.closed_at == LOCAL and row.notes == "Vicina avvisata"
    assert f'id="alarm-{alarm_id}"' not in done.get_data(as_text=True)
    again = post(
        login(app, "admin"),
        f"/teleassistance/desk/alarms/{alarm_id}/close",
        {"outcome": "well"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Not saved: alarm: alarm" in again and "already closed by teleassistance" in again
    assert stored_alarm(url, alarm_id).closed_by == "teleassistance"
    [entry] = audit_rows(app)
    assert entry.target == f"alarm {alarm_id} citizen 1" and entry.username == "teleassistance"
    for piece in PERSONAL:
        assert piece not in f"{entry.target} {entry.before} {entry.after}", piece


@pytest.mark.parametrize(
    ("form", "shown"),
    [
        ({"outcome": "fine"}, "Not saved: outcome: choose one of well, needs_help"),
        ({}, "Not saved: outcome:"),
        ({"outcome": "well", "notes": "x" * 2001}, "Not saved: notes: at most 2000"),
    ],
)
def test_a_bad_close_is_refused_naming_the_field_and_nothing_changes(app, form, shown):
    url = app.extensions["numero_unico_admin"].settings.database_url
    alarm_id = alarm(url, enrol(url), LOCAL)
    client = login(app, "teleassistance")
    page = post(
        client, f"/teleassistance/desk/alarms/{alarm_id}/close", form, follow_redirects=True
    ).get_data(as_text=True)
    assert shown in page
    assert stored_alarm(url, alarm_id).state == "open"
    unknown = post(
        client, "/teleassistance/desk/alarms/999/close", {"outcome": "well"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Not saved: alarm: there is no alarm 999" in unknown
    assert audit_rows(app) == []


def test_the_days_calls_show_masked_numbers_and_take_an_outcome(app):
    url = app.extensions["numero_unico_admin"].settings.database_url
    maria = enrol(url)
    gino = enrol(url, name="Gino Verdi", numbers=("06 1234 0001",), call_kind="automatic")
    auto = week_call(url, gino, LOCAL.replace(hour=9, minute=30), "automatic")
    oper = week_call(url, maria, LOCAL.replace(hour=11), state="answered", attempts=1)
    client = login(app, "teleassistance")
    page = client.get("/teleassistance/desk").get_data(as_text=True)
    today = page[page.index('id="today"') :]
    assert today.index(f'id="call-{oper}"') < today.index(f'id="call-{auto}"')  # operator first
    assert "********78" in today and "0612345678" not in today
    assert "Today&#39;s calls (2026-11-25)" in page
    sheet = client.get(f"/teleassistance/desk/calls/{oper}").get_data(as_text=True)
    assert "0612345678" in sheet and "Anna Bianchi" in sheet  # the sheet: the numbers whole
    saved = post(
        client,
        f"/teleassistance/desk/calls/{oper}/outcome",
        {"outcome": "company", "notes": "Ha chiacchierato", "back": "call"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"Outcome of call #{oper} saved." in saved and "company call (teleassistance)" in saved
    with Session(ready(url)) as db:
        row = db.get(WeekCall, oper)
        assert (row.outcome, row.notes, row.handled_by) == (
            "company",
            "Ha chiacchierato",
            "teleassistance",
        )
    bad = post(
        client,
        f"/teleassistance/desk/calls/{oper}/outcome",
        {"outcome": "fine"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Not saved: outcome:" in bad
    missing = post(
        client, "/teleassistance/desk/calls/999/outcome", {"outcome": "well"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Not saved: call: there is no call 999" in missing
    assert client.get("/teleassistance/desk/calls/999").status_code == 404
    assert [e.target for e in audit_rows(app)] == [f"call {oper}"]


def test_the_banner_says_when_no_call_goes_out(tmp_path):
    unconfigured, _ = make(tmp_path / "a", teleassistance_dial="")
    page = login(unconfigured, "teleassistance").get("/teleassistance/desk").get_data(as_text=True)
    assert 'id="no-calls"' in page and "NU_TELEASSISTANCE_DIAL is empty" in page
    night, _ = make(tmp_path / "b", now=NOW.replace(hour=22))  # 23:00 in Rome
    page = login(night, "teleassistance").get("/teleassistance/desk").get_data(as_text=True)
    assert "Outside the calling hours (09:00-20:00): no call is placed now." in page
    day, _ = make(tmp_path / "c")
    assert 'id="no-calls"' not in login(day, "teleassistance").get("/teleassistance/desk").get_data(
        as_text=True
    )
    italian, _ = make(tmp_path / "d", teleassistance_dial="")
    client = login(italian, "teleassistance")
    post(client, "/lang", {"lang": "it", "back": "/teleassistance/desk"})
    page = client.get("/teleassistance/desk").get_data(as_text=True)
    assert "nessuna chiamata viene fatta" in page and "Allarmi aperti" in page
    refused = post(
        client, "/teleassistance/desk/alarms/7/close", {"outcome": "well"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Non salvato: allarme: l&#39;allarme 7 non esiste" in refused


def test_nothing_personal_reaches_the_logs(app, caplog):
    url = app.extensions["numero_unico_admin"].settings.database_url
    caplog.set_level(logging.DEBUG)
    maria = enrol(url)
    alarm_id = alarm(url, maria, LOCAL)
    call_id = week_call(url, maria, LOCAL, state="answered", attempts=1)
    client = login(app, "teleassistance")
    client.get("/teleassistance/desk")
    client.get("/teleassistance/desk/live")
    client.get(f"/teleassistance/desk/calls/{call_id}")
    post(
        client,
        f"/teleassistance/desk/alarms/{alarm_id}/close",
        {"outcome": "well", "notes": "Vicina"},
    )
    post(
        client,
        f"/teleassistance/desk/calls/{call_id}/outcome",
        {"outcome": "well", "notes": "piano"},
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for piece in PERSONAL:
        assert piece not in logged, piece


def test_the_live_fragment_changes_signature_when_an_alarm_is_raised(app):
    url = app.extensions["numero_unico_admin"].settings.database_url
    client = login(app, "teleassistance")
    before = client.get("/teleassistance/desk/live").get_data(as_text=True)
    assert 'data-signature="|"' in before and 'id="no-alarms"' in before
    alarm_id = alarm(url, enrol(url), LOCAL)
    after = client.get("/teleassistance/desk/live").get_data(as_text=True)
    assert f'data-signature="{alarm_id}|"' in after and "Anna Bianchi" in after


def test_without_an_operator_account_the_desk_says_so_and_login_is_refused(app):
    client = login(app, "teleassistance")
    assert 'id="no-account"' in client.get("/teleassistance/desk").get_data(as_text=True)
    refused = post(client, "/teleassistance/desk/login", follow_redirects=True).get_data(
        as_text=True
    )
    assert "does not serve the department sociali" in refused
