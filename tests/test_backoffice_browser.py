"""Calling a citizen back from the back office, end to end: real Asterisk 22, a real baresip
softphone for the staff member, a citizen's phone in the test dialplan (``[nu-test-elder]``),
and Chromium on the admin.

A back-office user whose operator account is extension 221 logs in and lands on the work queue
and clicks a request's "call back": the request's page opens while their softphone rings and
answers, Asterisk dials the citizen through the outbound dial string
(``Local/{number}@nu-test-elder``), the citizen's phone answers, and the request's history
shows the contact attempt answered."""

from __future__ import annotations

import dataclasses
import logging
import shutil

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from ivr import config
from ivr.admin import auth
from ivr.admin.app import create_app
from ivr.admin.publish import AsteriskTarget
from ivr.backoffice.rules import Category, NewRequest
from ivr.backoffice.store import BackofficeStore
from ivr.db import ready
from ivr.operators.rules import AccountSpec
from tests.softphone import Softphone
from tests.test_admin_browser import AdminServer, chromium

pytestmark = [pytest.mark.asterisk]

PASSWORD = "correct horse battery"
CITIZEN = "3331234563"  # [nu-test-elder]: a person who answers and stays on the line


def test_staff_call_a_citizen_back_from_the_request_page(
    asterisk, operator_accounts, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    store, apply = operator_accounts
    secret = store.add(
        AccountSpec("221", "Bianca Neri", ("it",), (("tributi", 1),), username="bianca")
    )
    apply()
    live = tmp_path / "city" / "example-city.yaml"
    live.parent.mkdir()
    shutil.copy(config.ROOT / "dialplans" / "example-city.yaml", live)
    settings = dataclasses.replace(
        asterisk.settings,
        dialplan_path=live,
        var_dir=tmp_path / "var",
        redis_url="",
        callback_dial="Local/{number}@nu-test-elder",
    )
    requests = BackofficeStore(ready(settings.database_url))
    requests.save_category(Category("strade", "tributi", "Strade"))
    made = requests.create(
        NewRequest(category="strade", description="Buca in via Roma", number=CITIZEN), "test"
    )
    app = create_app(
        settings, target=AsteriskTarget.from_etc(asterisk.instance.etc_dir), secret_key="b" * 40
    )
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "bianca", PASSWORD, "back_office", "en")
    admin = AdminServer(app)
    driver = chromium(tmp_path)
    try:
        with Softphone("221", secret, asterisk.instance.sip_port) as phone:
            phone.wait_registered()
            driver.get(admin.url + "/login")
            driver.find_element(By.ID, "username").send_keys("bianca")
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "password").submit()
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "requests")))
            assert driver.current_url.endswith("/backoffice")  # the queue is her home
            row = driver.find_element(By.CSS_SELECTOR, f'tr[data-id="{made.id}"]')
            assert CITIZEN not in row.text  # masked in the list
            mark = phone.mark()
            elder = asterisk.ami.event_mark()
            row.find_element(By.CSS_SELECTOR, "button.call-back").click()  # one click
            WebDriverWait(driver, 10).until(
                EC.text_to_be_present_in_element((By.CSS_SELECTOR, "main"), "is ringing")
            )
            # ...and the request is on screen while the phone rings.
            assert driver.find_element(By.ID, "description").text == "Buca in via Roma"
            assert driver.find_element(By.ID, "number").text == CITIZEN
            phone.wait_answered_incoming(timeout=30, since=mark)
            asterisk.ami.wait_for(
                timeout=30, since=elder, Event="UserEvent", UserEvent="NuTestElder", Number=CITIZEN
            )

            def attempt_shown(d) -> bool:
                d.refresh()
                cells = d.find_elements(By.CSS_SELECTOR, "#history tr.event-contact")
                return any("answered" in c.text for c in cells)

            WebDriverWait(driver, 30, poll_frequency=0.5).until(attempt_shown)
            cell = driver.find_element(By.CSS_SELECTOR, "#history tr.event-contact").text
            assert "phone" in cell and "bianca" in cell and "221" in cell
            phone.hangup()
    finally:
        driver.quit()
        admin.stop()

    contacts = [e for e in requests.history(made.id) if e.kind == "contact"]
    assert [(e.detail["channel"], e.detail["outcome"]) for e in contacts] == [("phone", "answered")]
    assert requests.get(made.id).first_contact_at is not None
    assert "calling back from 221" in caplog.text  # our log lines: the request id, never the number
    assert CITIZEN not in caplog.text
