from ivr.queues.estimate import QueueState
from ivr.queues.tracker import QueueTracker


def member(status, paused="0", incall="0", iface="PJSIP/op1", event="QueueMember"):
    return {
        "Event": event,
        "Queue": "anagrafe",
        "Interface": iface,
        "Status": status,
        "Paused": paused,
        "InCall": incall,
    }


def test_resync_then_events():
    t = QueueTracker()
    t.resync(
        [
            {"Event": "QueueParams", "Queue": "anagrafe", "TalkTime": "100"},
            member("1"),
            member("2", iface="PJSIP/op2"),
            member("1", paused="1", iface="PJSIP/op3"),
            member("5", iface="PJSIP/op4"),
            {"Event": "QueueEntry", "Queue": "anagrafe", "Uniqueid": "a", "Wait": "30"},
        ],
        now=1000.0,
    )
    assert t.state("anagrafe", 1000.0) == QueueState(
        logged_in=3, available=1, paused=1, waiting=1, longest_wait_s=30.0, aht_s=100.0
    )
    assert t.apply({"Event": "QueueCallerJoin", "Queue": "anagrafe", "Uniqueid": "b"}, 1010.0)
    t.apply(member("2", incall="1", event="QueueMemberStatus"), 1010.0)
    t.apply({"Event": "AgentComplete", "Queue": "anagrafe", "TalkTime": "200"}, 1020.0)
    t.apply({"Event": "QueueCallerLeave", "Queue": "anagrafe", "Uniqueid": "a"}, 1020.0)
    s = t.state("anagrafe", 1020.0)
    assert (s.available, s.waiting, s.longest_wait_s, s.aht_s) == (0, 1, 10.0, 120.0)
    assert t.apply({"Event": "Newchannel"}, 1020.0) is None


def test_resync_forgets_ghosts_but_keeps_measured_aht():
    t = QueueTracker()
    t.apply({"Event": "QueueCallerJoin", "Queue": "anagrafe", "Uniqueid": "x"}, 0.0)
    t.apply({"Event": "AgentComplete", "Queue": "anagrafe", "TalkTime": "90"}, 0.0)
    t.resync([{"Event": "QueueParams", "Queue": "anagrafe", "TalkTime": "0"}], now=5.0)
    assert t.state("anagrafe", 5.0) == QueueState(aht_s=90.0)
