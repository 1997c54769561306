"""The teleassistance desk in a real headless Chromium (no Asterisk needed: the alarms come
from the database). The desk is open; an alarm row is inserted as the weekly calls would raise
it; it appears without a reload (the page's short poll) with the citizen's sheet and emergency
contacts; notes typed in it survive a second alarm arriving; closing it with an outcome records
who and when. The banner says outbound calls are not configured. And the done-when of the
issue: three missed weeks of the weekly source raise one alarm that shows on the open desk."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.db import ready
from ivr.teleassistance.models import Alarm
from ivr.teleassistance.store import TeleassistanceStore
from tests.admin_support import PASSWORD, city_settings, make_app
from tests.test_admin_browser import AdminServer, chromium
from tests.test_teleassistance_desk_store import alarm, enrol

ROME = ZoneInfo("Europe/Rome")  # the example city's zone


def wait_for(driver, css: str, timeout: float = 20):
    return WebDriverWait(driver, timeout).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def test_an_alarm_appears_on_the_open_desk_and_is_closed_with_an_outcome(tmp_path):
    app = make_app(city_settings(tmp_path, teleassistance_dial=""))
    url = app.extensions["numero_unico_admin"].settings.database_url
    maria = enrol(url)
    gino = enrol(url, name="Gino Verdi", numbers=("06 1234 0001",))
    admin = AdminServer(app)
    driver = chromium(tmp_path)
    try:
        driver.get(admin.url + "/login")
        driver.find_element(By.ID, "username").send_keys("teleassistance")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "password").submit()
        wait_for(driver, "nav")
        driver.get(admin.url + "/teleassistance/desk")
        assert "NU_TELEASSISTANCE_DIAL is empty" in driver.find_element(By.ID, "no-calls").text
        assert driver.find_element(By.ID, "no-alarms").is_displayed()

        now = datetime.now(ROME).replace(tzinfo=None)  # calls.py's times are local
        first = alarm(url, maria, now - timedelta(minutes=10))
        card = wait_for(driver, f"#alarm-{first}")  # no reload: the page polls
        text = card.text
        assert "ALARM: Maria Rossi, three weeks with no answer (2026-W48)" in text
        assert "0612345678, 3331234567" in text and "Borgo San Paolo" in text
        assert "Sente poco: parlare piano" in text
        assert "Anna Bianchi (daughter): 3331112222 · sms" in text
        assert "Open for 10 min" in text

        notes = driver.find_element(By.ID, f"alarm-{first}-notes")
        notes.send_keys("Figlia avvisata, passa alle 18")
        Select(driver.find_element(By.ID, f"alarm-{first}-outcome")).select_by_value("needs_help")
        second = alarm(url, gino, now, week="2026-W47")
        wait_for(driver, f"#alarm-{second}")  # a second alarm arrives while typing
        assert driver.find_element(By.ID, f"alarm-{first}-notes").get_property("value") == (
            "Figlia avvisata, passa alle 18"
        )
        chosen = Select(driver.find_element(By.ID, f"alarm-{first}-outcome"))
        assert chosen.first_selected_option.get_attribute("value") == "needs_help"

        driver.find_element(By.ID, f"alarm-{first}-save").click()
        WebDriverWait(driver, 20).until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, "main"), f"Alarm #{first} closed.")
        )
        assert not driver.find_elements(By.ID, f"alarm-{first}")
        assert driver.find_elements(By.ID, f"alarm-{second}")  # still open, still shown
    finally:
        driver.quit()
        admin.stop()

    with Session(ready(url)) as db:
        closed = db.get(Alarm, first)
        assert (closed.state, closed.outcome) == ("closed", "needs_help")
        assert closed.closed_by == "teleassistance"
        assert closed.notes == "Figlia avvisata, passa alle 18"
        assert closed.raised_at < closed.closed_at <= datetime.now(ROME).replace(tzinfo=None)
        assert db.get(Alarm, second).state == "open"


def test_three_missed_weeks_raise_one_alarm_that_shows_on_the_open_desk(tmp_path):
    """The weekly source (:mod:`ivr.teleassistance.calls`, the dialler's part played as in
    tests/test_teleassistance_calls.py) misses a citizen three weeks in a row while the desk is
    open: one alarm appears on it, with the sheet and the emergency contacts."""
    from ivr.db import make_engine
    from tests.test_teleassistance_calls import MONDAY, Clock, citizen, play_week, source

    app = make_app(city_settings(tmp_path, teleassistance_dial="PJSIP/{number}@trunk"))
    url = app.extensions["numero_unico_admin"].settings.database_url
    engine = make_engine(url)
    clock = Clock(datetime.combine(MONDAY, datetime.min.time()).replace(hour=10))
    weekly = source(engine, clock)
    enrolled = TeleassistanceStore(engine, "09:00-20:00", clock=clock).add(
        citizen("Giulia Neri", "0622222228")
    )
    admin = AdminServer(app)
    driver = chromium(tmp_path)
    try:
        driver.get(admin.url + "/login")
        driver.find_element(By.ID, "username").send_keys("teleassistance")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "password").submit()
        wait_for(driver, "nav")
        driver.get(admin.url + "/teleassistance/desk")
        for week in range(3):
            monday = MONDAY + timedelta(weeks=week)
            assert play_week(weekly, clock, monday, ["no_answer", "busy"]) == "missed"
        with Session(engine) as db:
            (raised,) = db.scalars(select(Alarm)).all()
        assert (raised.citizen_id, raised.week, raised.state) == (enrolled, "2026-W51", "open")
        card = wait_for(driver, f"#alarm-{raised.id}")  # no reload: the page polls
        text = card.text
        assert "ALARM: Giulia Neri, three weeks with no answer (2026-W51)" in text
        assert "0622222228" in text
        assert "Anna Bianchi (daughter): 3331112222 · sms" in text
        assert "Luca Bianchi (son): 3331113333 · email · luca@example.org" in text
        assert "Pia Verdi (neighbour): 3331114444 · call" in text
        assert len(driver.find_elements(By.CSS_SELECTOR, "article.alarm")) == 1
    finally:
        driver.quit()
        admin.stop()
        engine.dispose()
