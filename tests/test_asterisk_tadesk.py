"""An operator call end to end: real Asterisk 22, a real baresip softphone, a Chromium desk.

A teleassistance operator (role ``teleassistance``, operator account 231 serving social
services) opens the teleassistance desk and logs their phone in to the department's queue from
it. The weekly source (:mod:`ivr.teleassistance.calls`) with the outbound dialler calls an
enrolled citizen whose call is an operator call (``[nu-test-elder]``, a number ending in 3: a
person who says "Pronto?" and stays); once they answer they are queued for the teleassistance
operators with ``NU_TA_CALL``; the operator's softphone answers, and the desk shows the
citizen's sheet (found by ``NU_TA_CALL`` in the ringing event) with the outcome form. The
operator records the outcome: kept on the week's call with who handled it."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
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
from ivr.flow.model import CityCalendar
from ivr.operators.rules import AccountSpec
from ivr.outbound.dialler import Dialler
from ivr.teleassistance.calls import Queue, WeeklyCalls
from ivr.teleassistance.models import WeekCall
from ivr.teleassistance.plan import pacing
from ivr.teleassistance.rules import CitizenData, ContactData
from ivr.teleassistance.store import TeleassistanceStore
from tests.softphone import Softphone
from tests.test_admin_browser import AdminServer, chromium, wait_text

pytestmark = pytest.mark.asterisk

DIAL = "Local/{number}@nu-test-elder"
HOURS = "09:00-20:00"
MONDAY_10 = datetime(2026, 11, 30, 10, 0)
PASSWORD = "correct horse battery"
NUMBER = "0655512343"  # ends in 3: picks up, says "Pronto?", stays on the line


def test_an_operator_call_connects_the_desk_operators_softphone_and_shows_the_sheet(
    asterisk, operator_accounts, tmp_path
):
    store, apply = operator_accounts
    secret = store.add(
        AccountSpec("231", "Teresa Galli", ("it",), (("sociali", 1),), username="teresa")
    )
    apply()
    live = tmp_path / "city" / "example-city.yaml"
    live.parent.mkdir()
    shutil.copy(config.ROOT / "dialplans" / "example-city.yaml", live)
    settings = dataclasses.replace(
        asterisk.settings,
        dialplan_path=live,
        var_dir=tmp_path / "var",
        teleassistance_dial=DIAL,
        teleassistance_department="sociali",
    )
    engine = ready(settings.database_url)
    enrolment = TeleassistanceStore(engine, HOURS, clock=lambda: MONDAY_10)
    citizen = enrolment.add(
        CitizenData(
            name="Ada Lovati",
            numbers=(NUMBER,),
            language="it",
            weekdays=("mon",),
            call_kind="operator",
            contacts=(ContactData("Piero Lovati", "333 555 0101", "son", "call"),),
            consent_on="2026-11-20",
            consent_by="op.verdi",
            window="10:00-12:00",
            area="Borgo Nuovo",
            notes="Vive sola, chiedere della terapia",
        )
    )
    app = create_app(
        settings, target=AsteriskTarget.from_etc(asterisk.instance.etc_dir), secret_key="t" * 40
    )
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "teresa", PASSWORD, "teleassistance", "en")
    admin = AdminServer(app)
    desk = chromium(tmp_path)
    now = [MONDAY_10]
    weekly = WeeklyCalls(
        engine,
        hours=HOURS,
        pacing=pacing(HOURS, channels=2, operators=2, attempts=1, retry_minutes=30),
        calendar=CityCalendar,
        queue=lambda: Queue("sociali", "sociali"),
        free_operators=lambda: 1,
        clock=lambda: now[0],
    )
    dialler = Dialler(
        asterisk.instance.ami, [weekly], dial_template=DIAL, channels=2, ring_s=20, tick_s=0.2
    )
    dialler.clock = lambda: now[0]
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-outbound", daemon=True)
    try:
        with Softphone("231", secret, asterisk.instance.sip_port) as phone:
            phone.wait_registered()
            desk.get(admin.url + "/login")
            desk.find_element(By.ID, "username").send_keys("teresa")
            desk.find_element(By.ID, "password").send_keys(PASSWORD)
            desk.find_element(By.ID, "password").submit()
            WebDriverWait(desk, 10).until(EC.presence_of_element_located((By.TAG_NAME, "nav")))
            desk.get(admin.url + "/teleassistance/desk")
            desk.find_element(By.ID, "ta-login").click()
            wait_text(desk, "main", "logged in to", timeout=30)
            assert any(m.endswith("/231") for m in asterisk.queue_members("sociali"))
            hub = app.extensions["numero_unico_admin"].desk_hub()
            deadline = time.monotonic() + 20
            while not hub.connected:  # the desk's AMI feed hears the ring
                assert time.monotonic() < deadline, "the desk hub never connected"
                time.sleep(0.1)

            mark = phone.mark()
            weekly.plan(now[0])
            with Session(engine) as db:
                call = db.scalars(select(WeekCall).where(WeekCall.citizen_id == citizen)).one()
                assert call.next_at is not None, (call.state, call.reason)
                now[0] = max(now[0], call.next_at)  # the planned minute has come
                call_id = call.id
            thread.start()
            phone.wait_answered_incoming(timeout=90, since=mark)

            wait_text(
                desk, "#current-call", f"Teleassistance call #{call_id}: Ada Lovati", timeout=30
            )
            wait_text(
                desk, "#current-reason", "Operator call: the weekly courtesy call.", timeout=30
            )
            sheet = desk.find_element(By.ID, "current-sheet").text
            assert NUMBER in sheet and "Borgo Nuovo" in sheet
            assert "Vive sola, chiedere della terapia" in sheet
            assert "Piero Lovati (son): 3335550101" in sheet
            with Session(engine) as db:
                assert db.get(WeekCall, call_id).state == "answered"

            Select(desk.find_element(By.ID, "current-outcome")).select_by_value("well")
            desk.find_element(By.ID, "current-notes").send_keys("Sta bene, terapia presa")
            desk.find_element(By.ID, "current-save").click()
            wait_text(desk, "main", f"Outcome of call #{call_id} saved.", timeout=30)
            phone.hangup()
            desk.find_element(By.ID, "ta-logout").click()
            wait_text(desk, "main", "logged out of", timeout=30)
    finally:
        dialler.stopped = True
        if thread.is_alive():
            thread.join(timeout=10)
        desk.quit()
        admin.stop()
        stop_hubs()

    with Session(engine) as db:
        row = db.get(WeekCall, call_id)
        assert (row.outcome, row.handled_by) == ("well", "teresa")
        assert row.notes == "Sta bene, terapia presa"
    enrolment.erase(citizen)
