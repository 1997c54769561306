"""The operator desk end to end: real Asterisk 22, real FastAGI service, real Redis, two real
baresip softphones and two Chromium desks.

Operator A (tributi) logs in from the desk; a citizen calls in English and picks local taxes; A's
phone rings and A's desk shows the caller's language and path in words; A transfers the call
from the desk to waste collection with a note; operator B's phone answers and B's desk shows
the note. Then A wraps the call up: the outcome lands in call_records and operator_events."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr import config
from ivr.admin import auth
from ivr.admin.app import create_app
from ivr.admin.publish import AsteriskTarget
from ivr.db import ready
from ivr.desk.hub import stop_hubs
from ivr.kpi.models import CallRecord, OperatorEvent
from ivr.operators.rules import AccountSpec
from tests.softphone import Softphone
from tests.test_admin_browser import AdminServer, chromium, wait_text

pytestmark = [
    pytest.mark.asterisk,
]

MONDAY_10 = datetime(2026, 11, 23, 10, 0)
PASSWORD = "correct horse battery"


def desk_login(driver, url: str, username: str) -> None:
    driver.get(url + "/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "password").submit()
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "nav")))
    driver.get(url + "/desk")


def test_a_call_rings_with_its_context_and_moves_with_a_note_to_another_desk(
    asterisk, ivr_service, operator_accounts, redis_server, tmp_path
):
    store, apply = operator_accounts
    secret_a = store.add(
        AccountSpec("211", "Anna Rossi", ("it", "en"), (("tributi", 1),), username="anna")
    )
    secret_b = store.add(
        AccountSpec("212", "Luca Bianchi", ("it", "en"), (("rifiuti", 1),), username="luca")
    )
    apply()
    ivr_service(clock=lambda zone: MONDAY_10.replace(tzinfo=zone), redis_url=redis_server.url)

    live = tmp_path / "city" / "example-city.yaml"
    live.parent.mkdir()
    shutil.copy(config.ROOT / "dialplans" / "example-city.yaml", live)
    settings = dataclasses.replace(
        asterisk.settings, dialplan_path=live, var_dir=tmp_path / "var", redis_url=redis_server.url
    )
    app = create_app(
        settings, target=AsteriskTarget.from_etc(asterisk.instance.etc_dir), secret_key="d" * 40
    )
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "anna", PASSWORD, "operator", "en")
        auth.create_user(db, "luca", PASSWORD, "operator", "en")
    admin = AdminServer(app)
    a_desk, b_desk = chromium(tmp_path / "a"), chromium(tmp_path / "b")
    try:
        with (
            Softphone("211", secret_a, asterisk.instance.sip_port) as phone_a,
            Softphone("212", secret_b, asterisk.instance.sip_port) as phone_b,
        ):
            phone_a.wait_registered()
            phone_b.wait_registered()
            for driver, user, dept in ((a_desk, "anna", "tributi"), (b_desk, "luca", "rifiuti")):
                desk_login(driver, admin.url, user)
                driver.find_element(By.ID, f"login-{dept}").click()
                wait_text(driver, f'tr[data-department="{dept}"] .state', "logged in", timeout=20)
            assert any(m.endswith("/211") for m in asterisk.queue_members("tributi"))

            # A citizen: English, local taxes. A's phone rings; A's desk shows who and how.
            mark_a = phone_a.mark()
            call = asterisk.place_call([("choose_language", "2"), ("main_menu", "2")])
            phone_a.wait_answered_incoming(timeout=60, since=mark_a)
            wait_text(a_desk, "#ctx-language", "EN", timeout=20)
            # each field is filled in its turn
            wait_text(a_desk, "#ctx-path", "Tributi", timeout=20)
            path = a_desk.find_element(By.ID, "ctx-path").text
            assert "Tributi" in path and "principale" in path.lower()  # words, not node ids
            assert "tributi_orari" not in path
            assert a_desk.find_element(By.ID, "ctx-number").text == "3331234567"
            assert "menu" in a_desk.find_element(By.ID, "ctx-why").text
            assert b_desk.find_element(By.ID, "ctx-number").text == ""  # B has no call

            # A moves the call to waste collection with a note; B's phone answers, B's desk
            # shows the note and why the caller is there now.
            Select(a_desk.find_element(By.ID, "target")).select_by_value("dept:rifiuti")
            a_desk.find_element(By.ID, "note").send_keys("Bulky waste pickup, already paid")
            mark_b = phone_b.mark()
            a_desk.find_element(By.ID, "transfer").click()
            wait_text(a_desk, "main", "transferred", timeout=20)
            phone_b.wait_answered_incoming(timeout=60, since=mark_b)
            wait_text(b_desk, "#ctx-notes", "Bulky waste pickup, already paid", timeout=20)
            assert "211" in b_desk.find_element(By.ID, "ctx-notes").text
            assert "transfer" in b_desk.find_element(By.ID, "ctx-why").text
            assert b_desk.find_element(By.ID, "ctx-language").text == "EN"

            # A wraps up the call they passed on.
            Select(a_desk.find_element(By.ID, "outcome")).select_by_value("transferred")
            a_desk.find_element(By.ID, "wrapup").click()
            wait_text(a_desk, "main", "wrapped up", timeout=20)
            phone_b.hangup()
            call.wait_hangup()
            assert call.script_error is None
    finally:
        a_desk.quit()
        b_desk.quit()
        admin.stop()
        stop_hubs()

    with Session(ready(settings.database_url)) as db:
        record = db.scalars(select(CallRecord).where(CallRecord.call_id == call.uniqueid)).one()
        kinds = {(e.extension, e.kind) for e in db.scalars(select(OperatorEvent)).all()}
    assert record.wrapup_outcome == "transferred"
    assert record.caller_hash and "3331234567" not in record.caller_hash
    assert {("211", "login"), ("212", "login"), ("211", "transfer"), ("211", "wrapup")} <= kinds
