"""Queue state through a real redis-server, read by the queues.state service."""

import pytest

from ivr.devenv.asterisk import free_port
from ivr.devenv.redis import RedisServer
from ivr.flow.services import ServiceError
from ivr.queues.estimate import QueueState, queue_state
from ivr.queues.store import RedisQueueStore


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = RedisServer(
        free_port(), tmp_path_factory.mktemp("redis"), snapshots=False, hz=1
    ).start()
    yield server.url
    server.stop()


def test_state_round_trips_into_the_estimator(redis_url):
    store = RedisQueueStore(redis_url)
    store.write("anagrafe", QueueState(logged_in=2, available=0, waiting=2, aht_s=120))
    got = queue_state(store.service({"queue": "anagrafe"}))
    assert got == QueueState(logged_in=2, available=0, waiting=2, aht_s=120)


def test_stale_or_unknown_state_is_an_error(redis_url):
    store = RedisQueueStore(redis_url, max_age_s=60)
    store.write("tributi", QueueState(logged_in=1), now=1000.0)
    assert store.read("tributi", now=1030.0) is not None
    assert store.read("tributi", now=2000.0) is None
    with pytest.raises(ServiceError) as err:
        store.service({"queue": "nessuna"})
    assert err.value.code == "unknown"


def test_redis_down_is_unavailable():
    store = RedisQueueStore("redis://127.0.0.1:1/0")
    with pytest.raises(ServiceError) as err:
        store.service({"queue": "anagrafe"})
    assert err.value.code == "unavailable"
