"""The admin in a real headless Chromium, publishing to a real Asterisk 22.

Done-when of the admin issue, end to end: an editor logs in (keyboard only), moves the local
police from key 6 to key 7 in the main menu, sees the validation error of a broken node, runs a
test call on the draft in the browser, publishes; a real call through Asterisk and the real
FastAGI service follows the new menu. Then the previous version is restored in one click and the
next real call follows the old menu again.

The FastAGI service and the admin share settings pointing at a copy of the example city (the
repository's file is never written); the Asterisk is the test session's (``asterisk`` fixture),
whose configuration the admin re-renders and reloads through AMI.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from datetime import datetime

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from ivr import config
from ivr.admin import auth
from ivr.admin.app import create_app
from ivr.admin.publish import AsteriskTarget
from ivr.service import build_server

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)
PASSWORD = "correct horse battery"


def chromium(tmp_path) -> webdriver.Chrome:
    """Headless Debian Chromium driven by Debian's chromedriver (nothing downloaded)."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1200,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    return driver


class AdminServer:
    """The admin app served by werkzeug in a thread, on a free loopback port."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def city(asterisk, tmp_path):
    """Settings on a copy of the example city + the FastAGI service + the admin, all live."""
    live = tmp_path / "city" / "example-city.yaml"
    live.parent.mkdir()
    shutil.copy(config.ROOT / "dialplans" / "example-city.yaml", live)
    settings = dataclasses.replace(
        asterisk.settings,
        dialplan_path=live,
        var_dir=tmp_path / "var",
        redis_url="",
        database_url=f"sqlite:///{tmp_path / 'admin.db'}",
    )
    service = build_server(settings, clock=lambda zone: MONDAY_10.replace(tzinfo=zone)).start()
    target = AsteriskTarget.from_etc(asterisk.instance.etc_dir)
    app = create_app(settings, target=target, secret_key="x" * 40)
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "editor", PASSWORD, "editor", "en")
    admin = AdminServer(app)
    try:
        yield asterisk, admin, service, settings
    finally:
        admin.stop()
        deadline = time.monotonic() + 10
        while service.active_calls and time.monotonic() < deadline:
            time.sleep(0.05)
        service.shutdown()
        # The session Asterisk goes back to the example city's configuration.
        from ivr.admin.publish import Publisher

        Publisher(settings, app.config["SESSIONS"], target).publish(
            (config.ROOT / "dialplans" / "example-city.yaml").read_text(), "test-cleanup"
        )


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path)
    yield driver
    driver.quit()


def keys(*digits: str) -> list[tuple[str, str]]:
    """Language, then main menu: each key pressed when its question is asked."""
    return list(zip(("choose_language", "main_menu"), digits, strict=False))


def wait_text(driver, css: str, text: str, timeout: float = 10) -> None:
    """Wait until the element shows ``text``, across a page load.

    A click that submits a form replaces the document while the wait is reading the old one;
    chromedriver then answers "unhandled inspector error" (a plain WebDriverException) instead
    of a stale element, so every WebDriver error during the wait means "not yet". The last
    text seen is in the failure message.
    """
    seen: list[str] = []

    def shows_text(d) -> bool:
        seen[:] = [d.find_element(By.CSS_SELECTOR, css).text]
        return text in seen[0]

    try:
        WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(shows_text)
    except TimeoutException:
        raise AssertionError(f"{css} never showed {text!r}; last seen: {seen!r}") from None


def set_field(driver, name: str, value: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.clear()
    if value:
        field.send_keys(value)


def test_edit_simulate_publish_call_rollback_call(city, browser, tmp_path):
    asterisk, admin, service, settings = city
    b = browser

    # 1. Log in with the keyboard alone: the user name field has the focus, Tab, Enter.
    b.get(admin.url + "/")
    assert "/login" in b.current_url
    active = b.switch_to.active_element
    assert active.get_attribute("id") == "username"
    active.send_keys("editor", Keys.TAB)
    b.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    WebDriverWait(b, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "nav")))
    assert b.find_element(By.CSS_SELECTOR, "a.skip").get_attribute("href").endswith("#main")

    # 2. A broken node: key 7 of the main menu leads nowhere -> the validator says so.
    b.get(admin.url + "/flow/node/principale")
    set_field(b, "opt_7", "nowhere")
    b.find_element(By.ID, "save-node").click()
    wait_text(b, "#node-issues", "goes to unknown node 'nowhere'")
    b.get(admin.url + "/flow")
    assert (
        "node 'principale': goes to unknown node 'nowhere'" in b.find_element(By.ID, "issues").text
    )
    assert b.find_element(By.CSS_SELECTOR, 'a.graph-node[data-node="principale"]')

    # 3. The real change: the local police moves from key 6 to key 7.
    b.get(admin.url + "/flow/node/principale")
    set_field(b, "opt_6", "")
    set_field(b, "opt_7", "polizia")
    b.find_element(By.ID, "save-node").click()
    wait_text(b, "#node-issues", "No problem in this node")
    b.get(admin.url + "/flow/diff")
    diff = b.find_element(By.CSS_SELECTOR, "pre.diff").text
    assert '-      "6": polizia' in diff and '+      "7": polizia' in diff

    # 4. A test call on the draft, in the browser: Italian, welcome, key 7 -> police queue.
    b.get(admin.url + "/simulate")
    b.find_element(By.ID, "new-call").click()
    wait_text(b, "#steps", "choose_language")
    b.find_element(By.ID, "key-1").click()
    wait_text(b, "#steps", "welcome")
    b.find_element(By.ID, "continue").click()
    wait_text(b, "#steps", "main_menu")
    assert "«" in b.find_element(By.ID, "steps").text  # the prompt's Italian text is shown
    b.find_element(By.ID, "key-7").click()
    wait_text(b, "#steps", "transferring")
    b.find_element(By.ID, "continue").click()
    wait_text(b, "#call-ended", "ended")
    steps = b.find_elements(By.CSS_SELECTOR, "#steps > li")
    last = steps[-1]
    assert last.get_attribute("data-type") == "Transfer"
    assert "polizia" in last.text and "queue" in last.text
    assert b.find_element(By.ID, "sim-path").text.endswith("principale > polizia")

    # 5. Publish.
    b.get(admin.url + "/publish")
    b.find_element(By.ID, "note").send_keys("police on key 7")
    b.find_element(By.ID, "publish").click()
    wait_text(b, "#result", "is live", timeout=30)
    assert "live" in b.find_element(By.CSS_SELECTOR, "#result .message").text
    main_menu = settings.dialplan_path.read_text().split("\n  principale:")[1]
    assert "polizia" in main_menu.split('"7":')[1].splitlines()[0]

    # 6. A real call through Asterisk follows the new menu: 1 (Italian), 7 -> police.
    asterisk.add_operator("polizia", answers=False)
    call = asterisk.place_call(keys("1", "7"))
    assert call.wait_queue_join(timeout=20) == "polizia"
    assert call.variable("NU_PATH").endswith("principale>polizia")
    call.hangup()
    call.wait_hangup()

    # 7. Roll back to the version that was live before, in one action.
    b.get(admin.url + "/versions")
    rows = b.find_elements(By.CSS_SELECTOR, "#versions tbody tr")
    assert "live" in rows[0].text  # newest first: the one just published
    restore = rows[1].find_element(By.CSS_SELECTOR, "button[id^=restore-]")
    restore.click()
    wait_text(b, "#result", "is live", timeout=30)
    b.save_screenshot(str(tmp_path / "versions.png"))

    # 8. The next real call follows the old menu: key 6 is the police again.
    call = asterisk.place_call(keys("1", "6"))
    assert call.wait_queue_join(timeout=20) == "polizia"
    assert call.variable("NU_PATH").endswith("principale>polizia")
    call.hangup()
    assert service.stats["calls"] >= 1


def test_pages_fit_a_phone_screen_and_switch_to_italian(city, browser):
    _asterisk, admin, _service, _settings = city
    b = browser
    b.set_window_size(390, 844)
    b.get(admin.url + "/login")
    b.find_element(By.ID, "username").send_keys("editor")
    b.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER)
    WebDriverWait(b, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "nav")))
    for path in ("/", "/flow", "/simulate", "/publish", "/departments", "/prompts", "/live"):
        b.get(admin.url + path)
        overflow = b.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"
    select = b.find_element(By.ID, "ui-lang")
    select.send_keys("IT")
    select.find_element(By.XPATH, "..").submit()
    wait_text(b, "h1", "In diretta")
    assert b.find_element(By.TAG_NAME, "html").get_attribute("lang") == "it"


def test_a_new_department_goes_live_in_asterisk_and_a_failed_reload_changes_nothing(city, tmp_path):
    """Without a browser: the publisher against the real Asterisk. A new department's queue is
    confirmed running after the AMI reload; with a wrong AMI secret nothing changes."""
    asterisk, _admin, _service, settings = city
    from ivr.admin.db import open_database
    from ivr.admin.publish import Publisher
    from ivr.asterisk.ami import AMIClient
    from ivr.asterisk.render import read_ami_credentials

    etc = asterisk.instance.etc_dir
    sessions = open_database(f"sqlite:///{tmp_path / 'direct.db'}")
    old = settings.dialplan_path.read_text()
    new = (
        old.replace(
            "  operatore:\n    names:\n      it: Operatore",
            "  ztl:\n    names: {it: Zona a traffico limitato, en: Limited traffic zone,"
            " fr: Zone à trafic limité, es: Zona de tráfico limitado,"
            " de: Verkehrsberuhigte Zone, zh: 限行区, ar: منطقة المرور المحدود}\n"
            "    hours: always\n  operatore:\n    names:\n      it: Operatore",
        )
        .replace('"6": polizia', '"6": polizia\n      "7": ztl_operatori')
        .replace(
            "  operatore: {type: transfer, department: operatore}",
            "  operatore: {type: transfer, department: operatore}\n"
            "  ztl_operatori: {type: transfer, department: ztl}",
        )
    )
    creds = read_ami_credentials(etc)

    def wrong_secret():
        return AMIClient("127.0.0.1", creds.port, creds.username, "not-the-secret").connect()

    before = {p.name: p.read_bytes() for p in etc.glob("*.conf")}
    bad = Publisher(settings, sessions, AsteriskTarget.from_etc(etc))
    bad.target.ami = wrong_secret
    result = bad.publish(new, "ed")
    assert not result.ok and "Asterisk cannot be reached" in result.message
    assert {p.name: p.read_bytes() for p in etc.glob("*.conf")} == before
    assert settings.dialplan_path.read_text() == old
    assert "ztl has" not in asterisk.instance.cli("queue show ztl")

    good = Publisher(settings, sessions, AsteriskTarget.from_etc(etc))
    result = good.publish(new, "ed")
    assert result.ok, result.message
    assert "extensions_nu.conf" in result.changed_files and "queues.conf" in result.changed_files
    assert "queues dialplan" not in result.reload_output
    assert "ztl has 0 calls" in asterisk.instance.cli("queue show ztl")
    call = asterisk.place_call(keys("1", "7"))
    asterisk.add_operator("ztl", answers=False)
    assert call.wait_queue_join(timeout=20) == "ztl"
    call.hangup()


def test_live_view_reads_calls_queues_and_operators_from_asterisk(city):
    asterisk, admin, _service, _settings = city
    from tests.admin_support import token

    with admin.app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "operator", PASSWORD, "operator", "en")
    client = admin.app.test_client()
    response = client.post(
        "/login",
        data={"username": "operator", "password": PASSWORD, "csrf_token": token(client)},
    )
    assert response.status_code == 302
    asterisk.add_operator("polizia", answers=False)
    call = asterisk.place_call(keys("1", "6"))
    assert call.wait_queue_join(timeout=20) == "polizia"
    data = client.get("/api/live").get_json()
    assert data["ok"], data
    police = next(q for q in data["queues"] if q["name"] == "polizia")
    assert police["waiting"] == 1 and police["members"] == 1
    assert police["label"] == "Local police"
    assert police["state"] in ("ok", "busy")
    assert data["channels"] >= 1
    empty = next(q for q in data["queues"] if q["name"] == "tributi")
    assert (empty["waiting"], empty["members"], empty["state"]) == (0, 0, "ok")
    page = client.get("/live").get_data(as_text=True)
    assert 'data-queue="polizia"' in page
    call.hangup()


def test_an_admin_adds_an_operator_and_sees_the_secret_once(city, browser):
    """The Operators page in Chromium against the real Asterisk: the account is confirmed live
    and its SIP secret shown on the answer to "Add", then never again."""
    asterisk, admin, _service, settings = city
    app = admin.app
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "boss", PASSWORD, "admin", "en")
    b = browser
    b.get(admin.url + "/login")
    b.find_element(By.ID, "username").send_keys("boss", Keys.TAB)
    b.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    WebDriverWait(b, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "nav")))
    b.find_element(By.LINK_TEXT, "Operators").click()
    try:
        b.find_element(By.ID, "op-ext").send_keys("150")
        b.find_element(By.ID, "op-name").send_keys("Maria Rossi")
        b.find_element(By.CSS_SELECTOR, 'input[name=languages][value="it"]').click()
        b.find_element(By.CSS_SELECTOR, "#op-skill-tributi option[value='1']").click()
        b.find_element(By.CSS_SELECTOR, "form[action$='/operators'] button[type=submit]").click()
        wait_text(b, "#result", "Asterisk confirmed", timeout=30)
        secret = b.find_element(By.ID, "secret-value").text
        assert len(secret) == 24
        b.find_element(By.LINK_TEXT, "Done, back to the operators").click()
        wait_text(b, "#operators", "Maria Rossi")
        assert secret not in b.page_source
        b.back()  # the secret's page is not kept by the browser (no-store): not shown again
        assert secret not in b.page_source
    finally:
        store = app.extensions["numero_unico_admin"].operators()
        for account in store.accounts():
            store.remove(account.extension)
        app.extensions["numero_unico_admin"].publisher.apply_operators("test", "cleanup")
