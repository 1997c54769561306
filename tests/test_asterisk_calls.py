"""The whole path through a real Asterisk 22: city number -> FastAGI flow -> department queue.

Calls are placed with ``Local/`` channels whose caller side presses each key when the IVR asks
its question (tests/asterisk_harness.py); the FastAGI service is the product's own
(``ivr.service.build_server``, or ``ivr serve`` as a process), on the example city.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest

from ivr.service import build_server

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)  # every department open
SUNDAY_10 = datetime(2026, 11, 22, 10, 0)  # only police and operators open


class Clock:
    """The service's clock, settable by a test (the engine's hours depend on it)."""

    def __init__(self) -> None:
        self.now = MONDAY_10

    def __call__(self, zone):
        return self.now.replace(tzinfo=zone)


@pytest.fixture(scope="module")
def clock():
    return Clock()


@pytest.fixture(scope="module")
def service(asterisk_session, clock):
    settings = dataclasses.replace(asterisk_session.settings, redis_url="")
    server = build_server(settings, clock=clock).start()
    yield server
    server.shutdown()


@pytest.fixture
def city(asterisk, service, clock):
    clock.now = MONDAY_10
    yield asterisk
    deadline = time.monotonic() + 10
    while service.active_calls and time.monotonic() < deadline:
        time.sleep(0.05)


# The questions of the example city, in the order a caller meets them.
QUESTIONS = ("choose_language", "main_menu", "registry_booking_menu")


def keys(*digits: str) -> list[tuple[str, str]]:
    """Language, main menu, registry menu: each key pressed when its question is asked."""
    return list(zip(QUESTIONS, digits, strict=False))


@pytest.mark.parametrize(
    ("digits", "queue"),
    [(("1", "1", "4"), "anagrafe"), (("1", "2"), "tributi"), (("2", "9"), "operatore")],
)
def test_keypad_reaches_the_department_queue(city, digits, queue):
    city.add_operator(queue, answers=False)  # logged in but busy: the caller waits in the queue
    call = city.place_call(keys(*digits))
    assert call.wait_queue_join(timeout=20) == queue
    assert len(city.queue_callers(queue)) == 1
    lang = "it" if digits[0] == "1" else "en"
    assert call.variable("NU_LANG") == lang
    assert call.variable("NU_DEPARTMENT") == queue
    assert call.variable("NU_PATH").startswith("lingua>benvenuto>principale")
    played = [p.prompt for p in call.played()]
    assert f"{lang}/main_menu" in played and f"{lang}/transferring" in played
    call.hangup()


def test_an_operator_answers_with_the_callers_context(city):
    operator = city.add_operator("anagrafe")
    call = city.place_call(keys("1", "1", "4"))
    connected = call.wait_operator(timeout=20)
    assert connected["Queue"] == "anagrafe"
    assert call.variable("NU_PATH") == (
        "lingua>benvenuto>principale>anagrafe>anagrafe_orari>anagrafe_operatori"
    )
    city.remove_operator(operator)
    call.hangup()


def test_closed_department_plays_its_hours_then_the_menu(city, clock):
    clock.now = SUNDAY_10
    call = city.place_call(keys("1", "2"))
    hours = call.wait_played("hours_tributi", timeout=15)
    assert hours.language == "it"
    deadline = time.monotonic() + 10
    while True:
        names = [p.name for p in call.played()]
        if names[names.index("hours_tributi") :].count("main_menu") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert names.index("closed_now") < names.index("hours_tributi")
    assert names[names.index("hours_tributi") + 1] == "main_menu"
    assert not call.queues()
    call.hangup()


def test_three_wrong_keys_reach_the_general_operator(city):
    city.add_operator("operatore")
    call = city.place_call(keys("1") + [("main_menu", "7")] * 3)
    assert call.wait_operator(timeout=25)["Queue"] == "operatore"
    assert call.variable("NU_REASON") == "retries"
    names = [p.name for p in call.played()]
    assert names.count("invalid_choice") == 2 and "too_many_attempts" in names
    call.hangup()


def test_hangup_mid_menu_leaves_no_session(city, service):
    before = service.stats["calls"]
    call = city.place_call(keys("1"), hangup_after=2.0)
    call.wait_hangup(timeout=15)
    deadline = time.monotonic() + 10
    while (
        service.active_calls or service.stats["calls"] == before
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.stats["calls"] == before + 1
    assert service.active_calls == 0
    assert not call.queues()
    assert city.active_channels() == []


def test_asterisk_tells_time_in_the_citys_zone(asterisk, asterisk_dialplan):
    """SAY DATE/TIME use Asterisk's local time: it must be the dialplan's zone, not UTC."""
    from zoneinfo import ZoneInfo

    epoch = 1795513800  # 2026-11-24 09:50 UTC
    local = datetime.fromtimestamp(epoch, ZoneInfo(asterisk_dialplan.timezone))
    answer = asterisk.ami.action("Getvar", Variable=f"STRFTIME({epoch},,%H:%M)")
    assert answer.get("Value") == local.strftime("%H:%M") == "10:50"
