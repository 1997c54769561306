"""Operators' membership kept outside the nodes (ivr/queues/roster.py): the pure parts, and the
renders that make every node ring operators through Kamailio (ivr/asterisk/render.py,
ivr/devenv/cluster.py). Through real nodes: tests/test_cluster_operators.py."""

from __future__ import annotations

from ivr.asterisk.render import OperatorLine, render_operators
from ivr.queues.roster import Member, from_event, plan, present_members

Q, X = "operatore", "PJSIP/201"


def test_events_state_membership_of_dynamic_members_only():
    added = {
        "Event": "QueueMemberAdded",
        "Queue": Q,
        "Interface": X,
        "Penalty": "2",
        "MemberName": "201",
        "Paused": "0",
        "Membership": "dynamic",
    }
    assert from_event(added) == Member(Q, X, True, 2, "201", False)
    paused = {**added, "Event": "QueueMemberPause", "Paused": "1", "PausedReason": "pranzo"}
    assert from_event(paused) == Member(Q, X, True, 2, "201", True, "pranzo")
    assert from_event({**added, "Event": "QueueMemberRemoved"}) == Member(Q, X, False)
    assert from_event({**added, "Membership": "static"}) is None
    assert from_event({"Event": "QueueCallerJoin", "Queue": Q}) is None


def test_plan_adds_the_missing_syncs_pauses_removes_the_logged_out():
    recorded = [
        Member(Q, X, True, 1, "201", True, "pranzo"),
        Member(Q, "PJSIP/202", True, 0, "202"),
        Member(Q, "PJSIP/203", False),
        Member(Q, "PJSIP/204", False),
    ]
    present = {(Q, "PJSIP/202"): True, (Q, "PJSIP/203"): False, (Q, "PJSIP/999"): False}
    assert plan(recorded, present) == [
        {
            "Action": "QueueAdd",
            "Queue": Q,
            "Interface": X,
            "Penalty": "1",
            "MemberName": "201",
            "Paused": "true",
            "Reason": "pranzo",
        },
        {"Action": "QueuePause", "Queue": Q, "Interface": "PJSIP/202", "Paused": "false"},
        {"Action": "QueueRemove", "Queue": Q, "Interface": "PJSIP/203"},
    ]  # PJSIP/999: never recorded, left alone; PJSIP/204: already out
    assert plan(recorded[1:2], {(Q, "PJSIP/202"): False}) == []


def test_present_members_from_queue_status():
    listing = [
        {"Event": "QueueParams", "Queue": Q},
        {"Event": "QueueMember", "Queue": Q, "Location": X, "Paused": "1", "Membership": "dynamic"},
        {"Event": "QueueMember", "Queue": Q, "Location": "PJSIP/7", "Membership": "static"},
    ]
    assert present_members(listing) == {(Q, X): True}


def test_a_cluster_node_reaches_operators_at_kamailio(asterisk_dialplan):
    line = OperatorLine("201", "Anna", "0" * 32, ())
    assert "contact =" not in render_operators(asterisk_dialplan, [line])
    text = render_operators(asterisk_dialplan, [line], proxy_port=5070)
    assert "[201](operator-aor)\ncontact = sip:201@127.0.0.1:5070\n" in text


class _Ami:
    def __init__(self):
        self.sent = []

    def action(self, name, headers, check=True):
        self.sent.append((name, dict(headers)))


def test_roster_in_redis_applies_and_names_the_echoes_to_ignore(redis_server):
    import redis

    from ivr.queues.roster import KEY, MemberRoster

    redis.Redis.from_url(redis_server.url).delete(KEY)
    roster = MemberRoster(redis_server.url)
    roster.record(Member(Q, X, True, 1, "201", True, "pranzo"))
    roster.record(Member(Q, "PJSIP/203", False))
    assert sorted(roster.members(), key=lambda m: m.interface) == [
        Member(Q, X, True, 1, "201", True, "pranzo"),
        Member(Q, "PJSIP/203", False),
    ]
    ami = _Ami()
    listing = [
        {"Event": "QueueMember", "Queue": Q, "Location": X, "Paused": "0"},
        {"Event": "QueueMember", "Queue": Q, "Location": "PJSIP/203", "Paused": "0"},
    ]
    echoes = roster.apply(ami, listing)
    assert sorted(name for name, _ in ami.sent) == ["QueuePause", "QueueRemove"]
    assert echoes == {(Q, X, True, True), (Q, "PJSIP/203", False, False)}
