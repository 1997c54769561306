"""The outbound dialler's bookkeeping against a fake AMI (events as Asterisk 22 sends them): the
first outcome of a key is final, a line counts until its Hangup, a Hangup that comes before its
OriginateResponse waits for the reason (busy is not lost), a restart adopts the lines still up
and fails the others back to their source, an unusable number fails without a call.

Through a real Asterisk: tests/test_asterisk_outbound.py.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from ivr.outbound import dialler as D
from ivr.outbound.dialler import Dial, Dialler, hangup_outcome, originate_outcome

NOW = datetime(2026, 11, 30, 10, 0)


class Source:
    name = "fake"

    def __init__(self, dials=(), flying=()) -> None:
        self.todo = list(dials)
        self.results: list[tuple[str, str]] = []
        self.flying = list(flying)

    def due(self, now, room):
        taken, self.todo = self.todo[:room], self.todo[room:]
        return taken

    def result(self, key, outcome, now):
        self.results.append((key, outcome))

    def in_flight(self):
        return self.flying


class Listing:
    def __init__(self, events) -> None:
        self.events = events


class Event(dict):
    @property
    def name(self) -> str:
        return self["Event"]


class FakeAMI:
    def __init__(self, channels=()) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.channels = list(channels)
        self.refuse = False

    def action(self, name, headers=None, **kw):
        if name == "CoreShowChannels":
            return Listing([Event(Event="CoreShowChannel", Uniqueid=u) for u in self.channels])
        if self.refuse:
            raise RuntimeError("Originate refused")
        self.sent.append((name, dict(headers or {}, **kw)))
        return Listing([])


def dial(key: str, number: str = "3331234567") -> Dial:
    return Dial(key=key, number=number, then="nu-teleassistance", language="it")


def dialler(source: Source, channels: int = 2) -> Dialler:
    return Dialler(
        lambda: None,
        [source],
        dial_template="PJSIP/{number}@trunk",
        channels=channels,
        clock=lambda: NOW,
    )


def test_originate_carries_the_key_the_context_and_the_variables():
    source = Source([Dial("ta-1-1", "3331234567", "nu-teleassistance", "fr", True, {"X": 1})])
    d, ami = dialler(source), FakeAMI()
    d.place_due(ami)
    ((name, headers),) = ami.sent
    assert name == "Originate"
    assert headers["Channel"] == "PJSIP/3331234567@trunk"
    assert (headers["Context"], headers["Exten"], headers["ChannelId"]) == (
        "nu-outbound",
        "s",
        "ta-1-1",
    )
    assert {"NU_OUT_KEY=ta-1-1", "NU_OUT_THEN=nu-teleassistance", "NU_OUT_AMD=1"} <= set(
        headers["Variable"]
    )
    assert {"NU_LANG=fr", "X=1"} <= set(headers["Variable"])


def test_never_more_lines_than_channels_and_a_line_counts_until_its_hangup():
    source = Source([dial(f"k-{i}") for i in range(5)])
    d, ami = dialler(source, channels=2), FakeAMI()
    d.place_due(ami)
    assert [h["ChannelId"] for _, h in ami.sent] == ["k-0", "k-1"]
    d.handle(Event(Event="UserEvent", UserEvent="NuOutbound", Key="k-0", State="answered"))
    d.handle(Event(Event="UserEvent", UserEvent="NuOutboundResult", Key="k-0", Outcome="help"))
    assert source.results == [("k-0", "help")]
    d.place_due(ami)
    assert len(ami.sent) == 2  # decided, but still on the line with an operator
    d.handle(Event(Event="Hangup", Uniqueid="k-0", Cause="16"))
    assert source.results == [("k-0", "help")]  # the first outcome is final
    d.place_due(ami)
    assert [h["ChannelId"] for _, h in ami.sent][2:] == ["k-2"]


def test_a_hangup_before_its_originate_response_keeps_the_reason():
    source = Source([dial("k-busy"), dial("k-ring")])
    d, ami = dialler(source), FakeAMI()
    d.place_due(ami)
    d.handle(Event(Event="Hangup", Uniqueid="k-busy", Cause="0"))
    assert source.results == [] and "k-busy" not in d.lines  # channel free, reason awaited
    d.handle(Event(Event="OriginateResponse", Uniqueid="k-busy", Response="Failure", Reason="5"))
    assert source.results == [("k-busy", "busy")]
    d.handle(Event(Event="OriginateResponse", Uniqueid="k-ring", Response="Failure", Reason="3"))
    assert source.results[-1] == ("k-ring", "no_answer")
    assert d.lines == {} and d.ending == {}


def test_without_an_originate_response_the_hangup_cause_decides(monkeypatch):
    source = Source([dial("k-1")])
    d, ami = dialler(source), FakeAMI()
    d.place_due(ami)
    d.handle(Event(Event="Hangup", Uniqueid="k-1", Cause="17"))
    monkeypatch.setattr(D, "ENDING_GRACE_S", 0.0)
    d.settle()
    assert source.results == [("k-1", "busy")]


def test_a_person_who_hangs_up_before_the_context_reports_is_a_hangup():
    source = Source([dial("k-1")])
    d, ami = dialler(source), FakeAMI()
    d.place_due(ami)
    d.handle(Event(Event="UserEvent", UserEvent="NuOutbound", Key="k-1", State="answered"))
    d.handle(Event(Event="Hangup", Uniqueid="k-1", Cause="16"))
    assert source.results == [("k-1", "hangup")]


def test_a_restart_adopts_lines_still_up_and_fails_the_others():
    source = Source(flying=["k-up", "k-lost"])
    d, ami = dialler(source), FakeAMI(channels=["k-up", "someone-else"])
    d.reconcile(ami)
    assert list(d.lines) == ["k-up"]
    assert source.results == [("k-lost", "failed")]
    d.handle(Event(Event="UserEvent", UserEvent="NuOutboundResult", Key="k-up", Outcome="answered"))
    assert source.results[-1] == ("k-up", "answered")


def test_unusable_numbers_and_refused_originates_fail_without_a_line():
    source = Source([dial("k-bad", "333&PJSIP/999"), dial("k-ok")])
    d, ami = dialler(source), FakeAMI()
    d.place_due(ami)
    assert source.results == [("k-bad", "failed")]
    assert [h["ChannelId"] for _, h in ami.sent] == ["k-ok"]
    ami.refuse = True
    source.todo = [dial("k-refused")]
    d.place_due(ami)
    assert source.results[-1] == ("k-refused", "failed") and "k-refused" not in d.lines


def test_outcome_tables():
    assert [originate_outcome(r) for r in ("1", "3", "5", "8", "0", None)] == [
        "no_answer",
        "no_answer",
        "busy",
        "failed",
        "failed",
        "failed",
    ]
    assert [hangup_outcome(c) for c in ("17", "21", "34", "16", "19", "")] == [
        "busy",
        "busy",
        "failed",
        "no_answer",
        "no_answer",
        "no_answer",
    ]


def test_keys_and_contexts_are_safe_for_asterisk():
    with pytest.raises(ValueError):
        Dial(key="ta 1", number="1", then="nu-teleassistance", language="it")
    with pytest.raises(ValueError):
        Dial(key="ta-1-1", number="1", then="nu-x,s,1", language="it")
