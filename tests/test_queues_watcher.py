"""The watcher's loop with a scripted AMI connection and a real redis-server."""

import pytest

from ivr.devenv.asterisk import free_port
from ivr.devenv.redis import RedisServer
from ivr.queues.estimate import queue_state
from ivr.queues.store import RedisQueueStore
from ivr.queues.watcher import QueueWatcher


class Msg:
    def __init__(self, **headers):
        self.headers = list(headers.items())


class FakeAMI:
    def __init__(self, watcher, events):
        self.watcher, self.script, self.connected = watcher, events, True

    @property
    def answering(self):
        return self.connected

    def add_listener(self, cb):
        self.cb = cb

    def action(self, name):
        assert name == "QueueStatus"
        r = Msg()
        r.events = [
            Msg(Event="QueueParams", Queue="anagrafe", TalkTime="60"),
            Msg(Event="QueueMember", Queue="anagrafe", Interface="PJSIP/a", Status="2"),
        ]
        for ev in self.script:
            self.cb(ev)
        self.script = []
        return r

    def close(self):
        pass


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = RedisServer(
        free_port(), tmp_path_factory.mktemp("redis"), snapshots=False, hz=1
    ).start()
    yield server.url
    server.stop()


def test_resync_and_events_reach_redis(redis_url):
    store = RedisQueueStore(redis_url)
    watcher = QueueWatcher(lambda: None, store, tick_s=0.05)
    ami = FakeAMI(
        watcher,
        [
            Msg(Event="QueueCallerJoin", Queue="anagrafe", Uniqueid="1"),
            Msg(Event="QueueCallerJoin", Queue="anagrafe", Uniqueid="2"),
        ],
    )
    seen = []

    def stop_after_events(names=None, _orig=watcher.publish):
        _orig(names)
        seen.append(names)
        if watcher.events.empty() and len(seen) >= 3:
            ami.connected = False

    watcher.publish = stop_after_events
    watcher.session(ami)
    state = queue_state(store.service({"queue": "anagrafe"}))
    assert (state.logged_in, state.available, state.waiting, state.aht_s) == (1, 0, 2, 60.0)
