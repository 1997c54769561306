"""The desk's view of Asterisk's queue events, replayed from a recorded Asterisk 22 session
(tests/data/ami/queues.txt, the queue watcher's recording): which operator's desk hears what."""

from __future__ import annotations

from ivr.asterisk.ami import Message
from ivr.desk.events import DeskTracker, extension_of
from ivr.desk.hub import plain
from tests.ami_replay import Transcript


def recorded_events(name: str) -> list[Message]:
    """The events Asterisk sent in a recorded session, in order."""
    out, headers = [], []
    for who, line in Transcript.load(name).lines:
        if who != "S":
            continue
        if line:
            key, _, value = line.partition(": ")
            headers.append((key, value))
        elif headers:
            if headers[0][0] == "Event":
                out.append(Message(headers))
            headers = []
    return out


def replay(name: str) -> list:
    tracker = DeskTracker()
    seen = []
    for i, message in enumerate(recorded_events(name)):
        seen += tracker.feed(plain(message), float(i))
    return seen


def test_a_recorded_call_rings_is_answered_and_ends_on_the_operators_desk():
    events = [e for e in replay("queues") if e.extension == "op701"]
    kinds = [e.kind for e in events]
    assert kinds == ["member", "member", "member", "ringing", "connected", "member", "ended"]
    ringing, connected, ended = (events[kinds.index(k)] for k in ("ringing", "connected", "ended"))
    assert ringing.data["call_id"] == "nu-52123371f840-ivr"
    assert (ringing.data["language"], ringing.data["reason"]) == ("it", "ivr_unavailable")
    assert ringing.data["queue"] == "operatore"
    assert ringing.data["waited_s"] > 0  # from its QueueCallerJoin
    assert ringing.data["asterisk_at"] == 1795522477.931390
    assert connected.data == {"call_id": "nu-52123371f840-ivr", "waited_s": 23.0}
    # the caller hung up first: Asterisk's AgentComplete has no Uniqueid, the desk still knows
    assert ended.data == {"call_id": "nu-52123371f840-ivr", "talk_s": 2.0}
    pauses = [e.data["paused"] for e in events if e.kind == "member"]
    assert pauses == [False, True, False, True]


def test_the_abandoned_caller_rings_nobody_and_the_second_operator_gets_their_own_call():
    events = replay("queues")
    assert not any(e.data.get("call_id") == "nu-ad62db027ce6-ivr" for e in events)
    rings = [(e.extension, e.data["call_id"]) for e in events if e.kind == "ringing"]
    assert rings == [("op701", "nu-52123371f840-ivr"), ("op702", "nu-5cda1ba0796c-ivr")]


def test_a_phone_is_known_by_its_extension():
    assert extension_of({"Interface": "PJSIP/201", "MemberName": "Anna"}) == "201"
    assert extension_of({"Interface": "Local/a701@x/n", "MemberName": "op701"}) == "op701"
    assert extension_of({}) is None


def test_another_operators_call_never_reaches_this_desk():
    tracker = DeskTracker()
    ring = {"Event": "AgentCalled", "Interface": "PJSIP/201", "Uniqueid": "a", "Queue": "q"}
    tracker.feed(ring, 1.0)
    other = {"Event": "AgentConnect", "Interface": "PJSIP/201", "Uniqueid": "b", "Queue": "q"}
    assert tracker.feed(other, 2.0) == []  # not the call ringing here
    assert tracker.current["201"].connected_at is None


def test_a_teleassistance_call_rings_with_its_week_call_id():
    tracker = DeskTracker()
    ring = {
        "Event": "AgentCalled",
        "Interface": "PJSIP/211",
        "Uniqueid": "nu-ta-7-1",
        "Queue": "sociali",
        "Channel": "Local/0612345673@nu-test-elder-00000001;2",
        "vars": {"NU_TA_CALL": "7", "NU_REASON": "teleassistance_call"},
    }
    [event] = tracker.feed(ring, 1.0)
    assert (event.data["ta_call"], event.data["reason"]) == (7, "teleassistance_call")
    assert tracker.current["211"].ta_call == 7
    [other] = tracker.feed(dict(ring, Uniqueid="x", vars={"NU_TA_CALL": "7; DROP"}), 2.0)
    assert other.data["ta_call"] is None and tracker.current["211"].ta_call is None
