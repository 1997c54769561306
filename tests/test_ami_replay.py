"""Our AMI client, queue watcher, live view and publish confirmation against recorded Asterisk 22
sessions (``tests/data/ami/``, recorded by ``tests/ami_record.py``), served by
:class:`tests.ami_replay.ReplayPeer` on a loopback port: no Asterisk runs here.

Also the heartbeat: a peer that stops answering is found dead within the deadline (pending
actions fail with a clear error, the watcher stops writing its state and resyncs once Asterisk is
back); a peer that answers the Pings keeps the connection up.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from ivr import config
from ivr.admin import live_view
from ivr.admin.publish import PublishError, reload_asterisk
from ivr.asterisk.ami import AMIClient, AMIConnectionError, AMIError
from ivr.flow.loader import load_dialplan
from ivr.queues.tracker import QueueTracker
from ivr.queues.watcher import QueueWatcher
from tests.ami_replay import DATA, PONG, ReplayPeer, Transcript

USER = "numero-unico"  # as recorded; the secret is free


def client_for(peer: ReplayPeer, **kw) -> AMIClient:
    return AMIClient("127.0.0.1", peer.port, USER, "any-secret", timeout=5, **kw)


def wait_until(predicate, timeout: float, step: float = 0.02) -> float:
    """Seconds it took for ``predicate()`` to hold (AssertionError after ``timeout``)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {predicate}")
        time.sleep(step)
    return time.monotonic() - start


# ---------------------------------------------------------------------------------------------
# The fixtures themselves


def test_fixtures_hold_no_secret_and_real_asterisk_22():
    for path in DATA.glob("*.txt"):
        transcript = Transcript.load(path.name)
        assert any("Asterisk 22." in c for c in transcript.comments), path.name
        assert transcript.lines[0] == ("S", "Asterisk Call Manager/11.0.0"), path.name
        login = transcript.actions()[0]
        assert login["Action"] == "Login" and login["Secret"] == "<secret>", path.name
        secrets = [t for _, t in transcript.lines if t.lower().startswith("secret:")]
        assert secrets == ["Secret: <secret>"], path.name
        assert Transcript.load(path.name).dump() == path.read_text(), path.name  # round trip


def test_the_peers_pong_is_shaped_like_asterisks():
    heartbeat = Transcript.load("heartbeat")
    pings = [a for a in heartbeat.actions() if a["Action"] == "Ping"]
    assert len(pings) >= 2 and all("-ping-" in p["ActionID"] for p in pings)
    (pong,) = heartbeat.responses(pings[0]["ActionID"])
    assert list(pong) == [line.partition(":")[0] for line in PONG if line]
    assert pong["Ping"] == "Pong"


# ---------------------------------------------------------------------------------------------
# Parsing, responses, errors, events


def test_a_recorded_session_parses_responses_errors_and_events():
    with ReplayPeer(Transcript.load("basics"), then="close") as peer:
        client = client_for(peer)
        seen = []
        client.add_listener(seen.append)
        client.connect()
        assert client.banner == "Asterisk Call Manager/11.0.0"
        assert client.ping()
        shown = client.command("queue show anagrafe")
        assert shown.splitlines()[0].startswith("anagrafe has 0 calls (max unlimited)")
        assert shown.splitlines()[1:3] == ["   No Members", "   No Callers"]
        # a CLI command that fails answers "Response: Error" and still its output
        failed = client.command("dialplan show no-such-context")
        assert failed.splitlines() == [
            "There is no existence of 'no-such-context' context",
            "Command 'dialplan show no-such-context' failed.",
        ]
        assert client.action("Getvar", Variable="NU_DEFAULT_LANG")["Value"] == "it"
        with pytest.raises(AMIError) as refused:
            client.action("QueueAdd", Queue="no_such_queue", Interface="Local/1@x")
        assert not isinstance(refused.value, AMIConnectionError)
        assert refused.value.response.message == "Unable to add interface to queue: No such queue"
        unknown = client.action("NoSuchAction", check=False)
        assert not unknown.ok and unknown.message.startswith("Invalid/unknown command")
        reload = client.action("Reload", Module="no_such_module", check=False)
        assert (reload.ok, reload.message) == (False, "No such module")
        assert client.action("Logoff").get("Response") == "Goodbye"
        wait_until(lambda: not client.connected, 5)  # Asterisk hangs up after Goodbye
        client.close()
    assert peer.errors == []
    assert [e.name for e in seen] == ["FullyBooted", "SuccessfulAuth", "RequestBadFormat", "Reload"]
    assert [e.name for e in client.events(0)] == [e.name for e in seen]
    (bad,) = client.events(0, Event="RequestBadFormat")
    assert bad["RequestType"] == "Action: NoSuchAction"
    assert client.events(0, Event="Reload", Module="no_such_module", Status="2")


def test_event_lists_are_collected_and_other_events_dispatched_in_order():
    queues = Transcript.load("queues")
    first_status = queues.actions()[1]["ActionID"]
    recorded = [dict(h) for who, h in queues.until_action(2).messages("S")]
    # every event but the QueueStatus list's (OriginateResponse carries another client's id)
    unsolicited = [
        m["Event"] for m in recorded if "Event" in m and m.get("ActionID") != first_status
    ]
    listed = [m["Event"] for m in queues.responses(first_status) if "Event" in m]

    with ReplayPeer(queues.until_action(2), then="pings") as peer:
        client = client_for(peer).connect()
        status = client.action("QueueStatus")
        assert [e.name for e in status.events] == listed
        assert listed[-1] == "QueueStatusComplete" and listed.count("QueueEntry") == 2
        assert all(e.action_id == status.action_id for e in status.events)
        assert peer.done.wait(5)
        client.wait_for(Event="QueueMemberStatus", since=0, timeout=5)
        wait_until(lambda: len(client.events(0)) == len(unsolicited), 5)
        assert [e.name for e in client.events(0)] == unsolicited  # none of the list's
        connect = client.events(0, Event="AgentConnect")[0]
        assert connect["MemberName"] == "op701" and connect["Queue"] == "operatore"
        vars_ = client.events(0, Event="QueueCallerJoin")[0].variables()
        assert {"NU_LANG", "NU_QUEUE", "NU_DEPARTMENT"} <= set(vars_)
        client.close()
    assert peer.errors == []


def test_answers_are_matched_by_action_id_whatever_their_order():
    basics = Transcript.load("basics")
    getvar = basics.responses(basics.actions()[4]["ActionID"])[0]  # a recorded Getvar answer
    server = socket.create_server(("127.0.0.1", 0))

    def read_blocks(conn, count):
        data = b""
        while data.count(b"\r\n\r\n") < count:
            data += conn.recv(4096)
        return [
            dict(line.split(": ", 1) for line in block.decode().split("\r\n"))
            for block in data.split(b"\r\n\r\n")
            if block
        ]

    def peer():  # answers two Getvars in the reverse order
        conn, _ = server.accept()
        conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
        (login,) = read_blocks(conn, 1)
        conn.sendall(f"Response: Success\r\nActionID: {login['ActionID']}\r\n\r\n".encode())
        asked = read_blocks(conn, 2)
        for question in reversed(asked):
            answer = {**getvar, "ActionID": question["ActionID"], "Variable": question["Variable"]}
            answer["Value"] = question["Variable"].lower()
            conn.sendall(("".join(f"{k}: {v}\r\n" for k, v in answer.items()) + "\r\n").encode())
        time.sleep(1)
        conn.close()

    threading.Thread(target=peer, daemon=True).start()
    client = AMIClient("127.0.0.1", server.getsockname()[1], USER, "x", timeout=5).connect()
    results = {}

    def ask(name):
        results[name] = client.action("Getvar", Variable=name)["Value"]

    threads = [threading.Thread(target=ask, args=(name,)) for name in ("X1", "X2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == {"X1": "x1", "X2": "x2"}
    client.close()
    server.close()


# ---------------------------------------------------------------------------------------------
# The heartbeat


def test_a_peer_that_answers_the_pings_stays_up():
    login = Transcript.load("basics").only(0)
    with ReplayPeer(login, then="pings") as peer:
        client = client_for(peer, heartbeat_s=0.2, heartbeat_deadline_s=3.0).connect()
        # several Pings answered (how many in a given time is the scheduler's business)...
        wait_until(lambda: peer.pings >= 4, 30)
        # ...and the connection stayed up through all of them
        assert client.connected and client.answering and client.last_error is None
        client.close()


def test_a_silent_peer_is_dropped_within_the_deadline(caplog):
    login = Transcript.load("basics").only(0)
    deadline = 1.0
    with ReplayPeer(login, then="silent", answer_pings=False) as peer:
        client = client_for(peer).connect()
        assert peer.done.wait(5)
        interval = 0.2
        client.start_heartbeat(interval, deadline)  # also on a client already connected
        outcome = {}

        def pending():  # an action Asterisk will never answer
            try:
                client.action("Getvar", Variable="NU_DEFAULT_LANG", timeout=30)
            except AMIConnectionError as err:
                outcome["error"], outcome["at"] = err, time.monotonic()

        with caplog.at_level(logging.WARNING, logger="ivr.asterisk.ami"):
            waiter = threading.Thread(target=pending)
            waiter.start()
            wait_until(lambda: not client.answering, deadline)  # suspicious, then dead
            wait_until(lambda: not client.connected, 10)
            dead_after = time.monotonic() - peer.last_sent
            waiter.join(5)
        # The Ping, sent after the peer's last byte, had its full time to be answered; the
        # connection went well before the pending action's own 30 s (how far within the deadline
        # is a scheduling figure on a loaded machine, not behaviour).
        assert dead_after >= deadline - interval, dead_after
        assert "not answering" in str(outcome["error"])
        assert outcome["at"] - peer.last_sent < 10  # not its own 30 s
        assert "not answering" in str(client.last_error)
        assert any("not answering" in r.getMessage() for r in caplog.records)
        with pytest.raises(AMIConnectionError):
            client.action("Ping")
        assert not peer.errors
    client.close()


def test_heartbeat_settings_are_checked():
    with pytest.raises(ValueError):
        AMIClient(heartbeat_s=5.0, heartbeat_deadline_s=5.0)
    with pytest.raises(ValueError):
        AMIClient().start_heartbeat(0, 1)


# ---------------------------------------------------------------------------------------------
# The queue watcher


class MemoryStore:
    """RedisQueueStore's write(), in memory, with when each write happened."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, str, object]] = []

    def write(self, queue, state, now=None) -> None:
        self.writes.append((time.monotonic(), queue, state))

    def last(self, queue):
        return next((s for _, q, s in reversed(self.writes) if q == queue), None)


def truth(transcript: Transcript, action: int) -> dict[str, tuple[int, int, int]]:
    """(operators logged in, available, callers waiting) per queue, from a recorded
    QueueStatus listing: what the watcher must end up with."""
    action_id = transcript.actions()[action]["ActionID"]
    tracker = QueueTracker()
    tracker.resync([m for m in transcript.responses(action_id) if "Event" in m], time.time())
    out = {}
    for name in tracker.queues:
        state = tracker.state(name, time.time())
        out[name] = (state.logged_in, state.available, state.waiting)
    return out


def watcher_state(store: MemoryStore) -> dict[str, tuple[int, int, int]]:
    """What the watcher last wrote per queue. Read from its store, never from its tracker: the
    tracker belongs to the watcher's thread (reading it from here raced its updates)."""
    out = {}
    for _, name, state in list(store.writes):
        out[name] = (state.logged_in, state.available, state.waiting)
    return out


def test_the_watcher_follows_a_replayed_session_to_asterisks_own_final_count():
    queues = Transcript.load("queues")
    final = truth(queues, 2)
    assert final["operatore"] == (2, 0, 1)  # one on a break, one ringing; one caller waits
    events = []
    store = MemoryStore()
    with ReplayPeer(queues.until_action(2), then="pings") as peer:
        watcher = QueueWatcher(
            lambda: client_for(peer).connect(),
            store,
            tick_s=0.1,
            on_event=events.append,
            heartbeat_s=0.2,
            deadline_s=1.5,
        )
        thread = threading.Thread(target=watcher.run, args=(0.1,), daemon=True)
        thread.start()
        try:
            assert peer.done.wait(10)
            wait_until(lambda: watcher_state(store) == final, 5)
            assert watcher.answering and watcher.resyncs == 1
            written = len(store.writes)
            wait_until(lambda: len(store.writes) > written, 5)  # ticks keep the state fresh
            state = store.last("operatore")
            assert (state.logged_in, state.available, state.waiting) == final["operatore"]
            assert state.aht_s > 0  # AgentComplete's talk time
        finally:
            watcher.stopped = True
            thread.join(5)
    assert not peer.errors
    kinds = {e["Event"] for e in events}
    assert {"QueueCallerJoin", "AgentConnect", "QueueCallerAbandon", "AgentComplete"} <= kinds


def test_the_watcher_stops_writing_while_asterisk_is_silent_then_resyncs(caplog):
    queues = Transcript.load("queues")
    first, back = queues.until_action(2), queues.only(0, 2)  # then: login, QueueStatus
    store = MemoryStore()

    class Gap(ReplayPeer):  # Asterisk still wedged for a while: the next banner comes late
        def _accept(self):
            if self.connections:
                time.sleep(3.0)
            return super()._accept()

    peer = Gap([first, back], then="pings", answer_pings=False)  # the first session: no Pong
    with caplog.at_level(logging.INFO), peer:
        watcher = QueueWatcher(
            lambda: client_for(peer).connect(),
            store,
            tick_s=0.1,
            heartbeat_s=0.2,
            # long enough that a loaded machine answering the next session's Pings late is not
            # dropped again (this peer has transcripts for two sessions only)
            deadline_s=2.0,
        )
        thread = threading.Thread(target=watcher.run, args=(0.1,), daemon=True)
        thread.start()
        try:
            wait_until(lambda: watcher.answering and watcher.resyncs == 1, 10)
            wait_until(lambda: peer.connections == 1 and peer.last_sent > 0, 5)
            wait_until(lambda: not watcher.answering, 5)
            silent_at = time.monotonic()
            assert silent_at - peer.last_sent < 10  # noticed, long before any action timeout
            time.sleep(2.4)  # the deadline passes, the reconnection waits for its banner
            assert [w for w in store.writes if w[0] > silent_at] == []  # updated stops
            peer.answer_pings = True
            wait_until(lambda: watcher.answering and watcher.resyncs == 2, 10)
            wait_until(lambda: watcher_state(store) == truth(queues, 2), 5)
            wait_until(lambda: store.writes and store.writes[-1][0] > silent_at + 2.4, 5)
        finally:
            watcher.stopped = True
            thread.join(5)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Asterisk not answering: queue state no longer written" in m for m in messages)
    assert any("queue watcher: AMIConnectionError" in m and "not answering" in m for m in messages)
    assert not peer.errors


# ---------------------------------------------------------------------------------------------
# The live view


def test_the_live_view_reads_a_replayed_refresh_then_notices_silence():
    recorded = Transcript.load("live_view")
    assert recorded.actions()[-1]["Action"] == "Logoff"
    session = recorded.until_action(len(recorded.actions()) - 1)  # the view stays connected
    with ReplayPeer(session, then="silent", answer_pings=False) as peer:
        link = live_view.LiveLink(
            lambda: client_for(peer).connect(), heartbeat_s=0.2, deadline_s=1.5, retry_s=0.2
        )
        snap = live_view.snapshot(None, {"operatore": "Operatore"}, link=link)
        assert snap.ok, snap.error
        (general,) = [q for q in snap.queues if q.name == "operatore"]
        # the two operators are in each language twin too: counted once, in the department
        assert (general.members, general.paused, general.waiting) == (2, 1, 1)
        assert [q.name for q in snap.queues if q.name.startswith("operatore_")] == []
        assert snap.queues[0].label == "Operatore"
        assert snap.channels >= 2 and snap.in_ivr == 0
        # the peer marks its script done in its own thread, after the view has read the answer
        wait_until(peer.done.is_set, 5)
        assert not peer.errors
        # Asterisk goes quiet: the page says so at once, then the link is found dead.
        # (a refresh at the very start of the silence waits for the heartbeat's verdict)
        # (bounds for a loaded machine: the heartbeat's thread may wait for the CPU)
        wait_until(lambda: "not answering" in live_view.snapshot(None, {}, link=link).error, 15)
        wait_until(lambda: "cannot be reached" in live_view.snapshot(None, {}, link=link).error, 15)
        link.drop()


# ---------------------------------------------------------------------------------------------
# Publishing's confirmation


@pytest.fixture(scope="module")
def city():
    return load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")


def rendered() -> str:
    return (DATA / "publish-extensions_nu.conf").read_text(encoding="utf-8")


def test_publish_confirms_a_reload_from_asterisks_own_answers(city):
    with ReplayPeer(Transcript.load("publish"), strict=False, then="close") as peer:
        client = client_for(peer).connect()
        out = reload_asterisk(client, city, 5, extensions=rendered())
        client.close()
    assert out.splitlines()[:2] == [
        "Reload pbx_config: Module Reloaded",
        "Reload app_queue: Module Reloaded",
    ]
    assert out.splitlines()[2].startswith("confirmed: number 020202, queues anagrafe")
    assert "230 priorities in 7 contexts and 7 globals" in out
    assert not peer.errors
    actions = [dict(m).get("action") for m in peer.received]
    assert "Command" not in actions and "command" not in actions


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        (lambda t: t + "\n[nu-queue]\nexten => ztl,1,Set(NU_QUEUE_LABEL=ZTL)\n", "extension ztl"),
        (
            lambda t: t.replace("NU_QUEUE_LABEL=Anagrafe", "NU_QUEUE_LABEL=Anagrafe centrale"),
            "extension anagrafe in nu-queue as rendered",
        ),
        (lambda t: t.replace("020202,1,", "060606,1,"), "extension 060606 in from-pstn"),
        (lambda t: t.replace("NU_LANGS=it|", "NU_LANGS=en|"), "global NU_LANGS"),
        (lambda t: t.replace("exten => polizia,", "exten => ignored,"), "old extension polizia"),
    ],
)
def test_publish_refuses_what_asterisk_does_not_run(city, change, reported):
    with ReplayPeer(Transcript.load("publish"), strict=False, then="close") as peer:
        client = client_for(peer).connect()
        with pytest.raises(PublishError) as refused:
            reload_asterisk(client, city, 0.3, extensions=change(rendered()))
        client.close()
    assert refused.value.stage == "reload"
    assert refused.value.message.startswith("Asterisk reloaded but does not run: ")
    assert reported in refused.value.message
