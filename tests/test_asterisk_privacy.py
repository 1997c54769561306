"""No personal data in any log, Asterisk's included, on a real Asterisk 22.

Phone numbers and the digits a caller types are personal data. This module runs its OWN Asterisk
instance, rendered from the example city exactly as ``ivr up`` renders it: the shipped
``logger.conf``, and none of the test-only verbose-3 log the other real-Asterisk tests read (only
the test contexts that place calls). The product's FastAGI service runs beside it, its Python
logging captured at DEBUG into a file (no redacting filter added here: what the code logs is what
is checked). Calls from a known number type digits where they matter and reach a queue; then every
file under the instance's log folder (recursively: full, messages, console output, any queue_log
or CDR file) and the Python log are searched: neither the caller's number nor the typed digits, nor
any six-digit piece of them, may appear; no digit said back or key pressed is logged at all. The
call's uniqueid must appear: the logs stay useful for following a call.

The logs are read once the call is over and before the test's clean-up: the test citizen's phone
is ``Local/<number>@nu-test-citizen``, a channel whose very name holds the number (a real trunk's
channel is named after its endpoint, ``PJSIP/trunk-…``), and the harness hanging up leftovers
makes Asterisk name such channels in notices.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from booking.codes import check_digit, is_valid
from ivr.db import make_engine, migrate
from ivr.service import build_server
from tests.asterisk_harness import AsteriskHarness, prepare_instance, retire_instance

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)  # every department open
BOOKING_CALLER = "3479182635"
TYPED_CODE = "3958217" + check_digit("3958217")  # a well-formed booking code nobody holds
CALLBACK_CALLER = "3286645190"
TYPED_NUMBER = "0697315482"  # another number to be called back on (not ending in 0: answers)
DIAL = "Local/{number}@nu-test-citizen"

# What the test-only log has and the shipped one must not: a digit said back, a key pressed.
SAID_OR_PRESSED = re.compile(r"Playing '[^']*digits/|\bDTMF\b.*'[0-9*#]'")


def clock(zone):
    return MONDAY_10.replace(tzinfo=zone)


def pieces(secret: str, size: int = 6) -> set[str]:
    """Every run of ``size`` digits inside ``secret``: any longer leak contains one of them."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


@pytest.fixture(scope="module")
def python_log(tmp_path_factory) -> Iterator[Path]:
    """Everything the process logs at DEBUG and above, into a file, for this module."""
    path = tmp_path_factory.mktemp("python-log") / "ivr.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, asterisk_dialplan, python_log) -> Iterator[AsteriskHarness]:
    """A separate Asterisk with the shipped logging (no test-only log), on its own free ports."""
    instance = prepare_instance(
        f"privacy-{os.getpid()}",
        asterisk_dialplan,
        tmp_path_factory.mktemp("privacy-city"),
        queue_timeout=20,
        general_timeout=30,
        test_log=False,
    )
    assert not (instance.etc_dir / "logger_local.conf").exists()  # the shipped logging only
    instance.start()
    harness = AsteriskHarness(instance, asterisk_dialplan, agi_port=instance.settings.agi_port)
    try:
        yield harness
    finally:
        harness.reset()
        harness.close()
        retire_instance(instance, tmp_path_factory.mktemp("privacy-asterisk-log"))


@pytest.fixture
def city(shipped):
    shipped.reset()
    yield shipped
    shipped.reset()


def every_log(harness: AsteriskHarness) -> dict[Path, str]:
    """Every file under the instance's log folder, as text."""
    return {
        path: path.read_bytes().decode("utf-8", "replace")
        for path in sorted(harness.instance.log_dir.rglob("*"))
        if path.is_file()
    }


def assert_no_personal_data(
    harness: AsteriskHarness, python_log: Path, secrets: list[str], must_appear: list[str]
) -> None:
    """No piece of ``secrets`` in any log line, no digit said or key pressed logged; every one
    of ``must_appear`` (the call's uniqueid...) in Asterisk's logs, the uniqueid in Python's."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "baseFilename", None) == str(python_log):
            handler.flush()
    # Asterisk's logger writes from its own thread: give this call's lines time to arrive
    deadline = time.monotonic() + 10
    while not all(m in "".join(every_log(harness).values()) for m in must_appear):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    asterisk_logs = every_log(harness)
    assert asterisk_logs, "Asterisk wrote no log at all"
    files = {**asterisk_logs, python_log: python_log.read_text(encoding="utf-8")}
    leaks = []
    for path, text in files.items():
        for line in text.splitlines():
            found = [p for secret in secrets for p in pieces(secret) if p in line]
            if found or SAID_OR_PRESSED.search(line):
                leaks.append(f"{path.name}: {line}")
    assert leaks == [], f"{len(leaks)} log lines with personal data:\n" + "\n".join(leaks[:40])
    asterisk_text = "".join(asterisk_logs.values())
    for marker in must_appear:
        assert marker in asterisk_text, f"{marker!r} is in no Asterisk log: can't follow the call"
    assert must_appear[0] in files[python_log], "the call's uniqueid is not in the Python log"


def test_the_shipped_logger_conf_keeps_no_verbose_no_dtmf_and_no_queue_log():
    """Asterisk 22 ignores a file's own verbose(N) level: any verbose level writes level-3 lines
    (application arguments, digits said back). So no verbose at all, no dtmf, no queue_log."""
    from ivr.asterisk.render import STATIC_DIR

    section, levels, general = "", {}, {}
    for raw in (STATIC_DIR / "logger.conf").read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m.group(1)
        elif section == "logfiles" and "=>" in line:
            name, _, value = line.partition("=>")
            levels[name.strip()] = {v.strip().split("(")[0] for v in value.split(",")}
        elif section == "general" and "=" in line:
            key, _, value = line.partition("=")
            general[key.strip()] = value.strip()
    assert levels and all(not ({"verbose", "dtmf", "*"} & lv) for lv in levels.values()), levels
    assert general.get("queue_log") == "no"
    assert general.get("use_callids") == "yes"


def test_a_typed_booking_code_and_the_callers_number_stay_out_of_every_log(city, python_log):
    """Booking lookup: the caller types a code three times (unknown), then the operator queue."""
    assert is_valid(TYPED_CODE)
    url = f"sqlite:///{python_log.parent / 'booking.db'}"
    migrate(url)
    settings = dataclasses.replace(city.settings, redis_url="", database_url=url)
    server = build_server(settings, clock=clock).start()
    try:
        city.add_operator(city.general_queue, answers=True)
        # it, registry office, "I have a booking"; the code, three times: never found, so the
        # third time the operator takes over
        keys = [
            ("choose_language", "1"),
            ("main_menu", "1"),
            ("registry_booking_menu", "3"),
            *[("booking_enter_code", TYPED_CODE + "#")] * 3,
        ]
        call = city.place_call(keys, caller_id=BOOKING_CALLER, max_seconds=120)
        assert call.wait_queue_join(timeout=40) == city.general_queue
        assert call.pressed == [prompt for prompt, _ in keys], call.script_error
        call.wait_operator(timeout=15)
        call.hangup()
        call.wait_hangup(timeout=15)
    finally:
        server.shutdown()
    assert_no_personal_data(
        city, python_log, [BOOKING_CALLER, TYPED_CODE], must_appear=[call.uniqueid]
    )


def test_a_callback_to_a_typed_number_stays_out_of_every_log(city, python_log, redis_server):
    """The registry office is saturated: the caller asks for a callback on another number, types
    it, hears it read back, confirms; an operator frees up and Asterisk dials that number."""
    from ivr.callbacks.store import CallbackStore, Policy
    from ivr.callbacks.worker import CallbackWorker
    from ivr.queues.estimate import queue_state
    from ivr.queues.store import RedisQueueStore
    from ivr.queues.watcher import QueueWatcher

    redis_url = redis_server.url.rsplit("/", 1)[0] + "/9"  # not the other tests' database
    url = f"sqlite:///{python_log.parent / 'callbacks.db'}"
    migrate(url)
    queues = RedisQueueStore(redis_url)
    watcher = QueueWatcher(city.instance.ami, queues, tick_s=0.5)
    store = CallbackStore(make_engine(url))
    worker = CallbackWorker(
        city.instance.ami,
        store,
        dial_template=DIAL,
        policy=Policy(max_attempts=1),
        ring_s=5,
        tick_s=0.2,
        reconcile_s=1.0,
    )
    threads = [
        threading.Thread(target=watcher.run, args=(0.2,), name="privacy-watcher", daemon=True),
        threading.Thread(target=worker.run, args=(0.2,), name="privacy-callbacks", daemon=True),
    ]
    for thread in threads:
        thread.start()
    settings = dataclasses.replace(
        city.settings, redis_url=redis_url, database_url=url, callback_dial=DIAL
    )
    server = build_server(settings, clock=clock).start()
    try:
        deadline = time.monotonic() + 10
        while (state := queue_state(queues.read("anagrafe"))) is None or state.logged_in:
            assert time.monotonic() < deadline, "the registry office's state is never published"
            time.sleep(0.1)
        # it, registry office, "talk to them"; saturated (nobody logged in): "call me back",
        # "on another number", the number; it is read back in full: "1", confirmed. The choices
        # after a number said aloud are pressed on their last piece, once the digits were said.
        start = city.ami.event_mark()
        keys = [
            ("choose_language", "1"),
            ("main_menu", "1"),
            ("registry_booking_menu", "4"),
            ("registry_busy_menu", "2"),
            ("callback_offer_choice", "2"),
            ("callback_enter_number", TYPED_NUMBER + "#"),
            ("callback_confirm_choice", "1"),
        ]
        call = city.place_call(keys, caller_id=CALLBACK_CALLER, max_seconds=120)
        call.wait_hangup(timeout=30)  # booked: goodbye, never queued itself
        assert call.pressed == [prompt for prompt, _ in keys], call.script_error
        deadline = time.monotonic() + 20
        while not (rows := store.in_asterisk()):
            assert time.monotonic() < deadline, "the callback never waited in the queue"
            time.sleep(0.1)
        (row,) = rows
        assert row.number == TYPED_NUMBER
        city.add_operator("anagrafe", answers=True)
        citizen = city.ami.wait_for(
            Event="UserEvent", UserEvent="NuTestCitizen", since=start, timeout=40
        )
        assert citizen["Number"] == TYPED_NUMBER
    finally:
        server.shutdown()
        worker.stopped = watcher.stopped = True
        for thread in threads:
            thread.join(timeout=5)
    assert_no_personal_data(
        city,
        python_log,
        [CALLBACK_CALLER, TYPED_NUMBER],
        must_appear=[call.uniqueid, f"callback {row.id}"],
    )
