"""Manual switches through a real redis-server, and the fail-open rule when Redis is gone."""

import pytest

from ivr.devenv.asterisk import free_port
from ivr.devenv.redis import RedisServer, port_answers
from ivr.live import MemoryState, RedisState, open_state


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = RedisServer(
        free_port(), tmp_path_factory.mktemp("redis"), snapshots=False, hz=1
    ).start()
    yield server.url
    server.stop()
    assert not port_answers("127.0.0.1", server.port)


def test_switches_round_trip_in_redis(redis_url):
    writer, reader = open_state(redis_url), open_state(redis_url)
    assert isinstance(writer, RedisState)
    writer.set_switch("tributi", True)
    writer.set_switch("*", True)
    assert reader.switches() == frozenset({"tributi", "*"})
    writer.set_switch("*", False)
    assert reader.switches() == frozenset({"tributi"})
    writer.set_switch("tributi", False)
    assert reader.switches() == frozenset()


def test_redis_down_means_no_switch_not_a_failed_call():
    state = RedisState("redis://127.0.0.1:1/0")
    assert state.switches() == frozenset()


def test_memory_state_without_url():
    state = open_state("")
    assert isinstance(state, MemoryState)
    state.set_switch("anagrafe", True)
    assert state.switches() == frozenset({"anagrafe"})
