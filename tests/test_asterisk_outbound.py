"""The outbound dialler through a real Asterisk 22: each kind of test citizen's phone
(``[nu-test-elder]``) ends in the outcome the dialler reports to its source — a person who
presses 1, one who asks for help with 2, one who says "Pronto?" and presses nothing, an
answering machine (AMD on espeak-ng speech), a busy line and a phone nobody answers — and the
dialler never holds more lines than its channels.

The source here is the smallest one possible (a list in memory); the teleassistance, broadcast
and reminder sources are tested through Asterisk in their own files.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from ivr.outbound.dialler import Dial, Dialler

pytestmark = pytest.mark.asterisk

DIAL = "Local/{number}@nu-test-elder"


class ListSource:
    """Calls to place once each; outcomes and the most lines ever held, as the dialler saw."""

    name = "test"

    def __init__(self, dials: list[Dial], dialler_lines) -> None:
        self.todo = list(dials)
        self.outcomes: dict[str, str] = {}
        self.lines = dialler_lines
        self.most = 0
        self.lock = threading.Lock()

    def due(self, now: datetime, room: int) -> list[Dial]:
        with self.lock:
            taken, self.todo = self.todo[:room], self.todo[room:]
            return taken

    def result(self, key: str, outcome: str, now: datetime) -> None:
        with self.lock:
            self.outcomes[key] = outcome

    def in_flight(self) -> list[str]:
        return []


def _dial(key: str, number: str) -> Dial:
    return Dial(
        key=key,
        number=number,
        then="nu-teleassistance",
        language="it",
        variables={"NU_TA_KIND": "automatic", "NU_TA_CALL": "0", "NU_QUEUE": "sociali"},
    )


def _run(asterisk, dials: list[Dial], channels: int, until) -> tuple[ListSource, Dialler]:
    dialler = Dialler(
        asterisk.instance.ami, [], dial_template=DIAL, channels=channels, ring_s=4, tick_s=0.2
    )
    source = ListSource(dials, dialler.lines)
    dialler.sources.append(source)
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-outbound", daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    try:
        while not until(source):
            source.most = max(source.most, len(dialler.lines))
            assert time.monotonic() < deadline, f"outcomes so far: {source.outcomes}"
            time.sleep(0.05)
    finally:
        dialler.stopped = True
        thread.join(timeout=10)
    return source, dialler


def test_each_kind_of_phone_ends_in_its_outcome(asterisk):
    phones = {
        "t-keys-one": "3330000001",  # a person who presses 1: all well
        "t-keys-two": "3330000002",  # presses 2: help (then the operators' queue)
        "t-silent": "3330000003",  # a person who never presses a key
        "t-machine": "3330000008",  # an answering machine
        "t-busy": "3330000009",
        "t-ringing": "3330000000",  # never answers
    }
    source, _ = _run(
        asterisk,
        [_dial(k, n) for k, n in phones.items()],
        channels=6,
        until=lambda s: len(s.outcomes) == len(phones),
    )
    assert source.outcomes == {
        "t-keys-one": "answered",
        "t-keys-two": "help",
        "t-silent": "no_key",
        "t-machine": "machine",
        "t-busy": "busy",
        "t-ringing": "no_answer",
    }


def test_never_more_lines_than_channels(asterisk):
    dials = [_dial(f"t-line-{i}", f"33300001{i}1") for i in range(5)]
    source, dialler = _run(
        asterisk, dials, channels=2, until=lambda s: len(s.outcomes) == 5 and not s.todo
    )
    assert set(source.outcomes.values()) == {"answered"}
    assert 1 <= source.most <= 2
