"""Who waits where, outside the node: one Redis hash per node, ``nu:waiting:<node>``, a field
per waiting call (its uniqueid) holding a :class:`~ivr.queues.lost.Waiting` as JSON.

The caller's number is in it, so it lives only as long as the caller waits: the watcher removes
the field when they leave the queue (answered, abandoned, timed out) or are declared lost, and
the whole hash expires ``ttl_s`` after the last join (a watcher gone for good leaves nothing
behind). Never logged.
"""

from __future__ import annotations

import json

from ivr.queues.lost import Waiting

KEY = "nu:waiting:{}"
PATTERN = "nu:waiting:*"


class RedisWaiting:
    def __init__(self, url: str, ttl_s: float = 4 * 3600) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl_s = int(ttl_s)

    def add(self, waiting: Waiting) -> None:
        key = KEY.format(waiting.node)
        pipe = self._redis.pipeline()
        pipe.hset(key, waiting.call_id, json.dumps(waiting.to_dict()))
        pipe.expire(key, self.ttl_s)
        pipe.execute()

    def remove(self, node: str, call_id: str) -> None:
        self._redis.hdel(KEY.format(node), call_id)

    def all(self, node: str) -> list[Waiting]:
        raw = self._redis.hgetall(KEY.format(node))
        return [Waiting.from_dict(json.loads(v)) for v in raw.values()]

    def elsewhere(self, number: str, node: str) -> bool:
        """The number waits now in a queue of another node (the caller called again)."""
        if not number:
            return False
        for key in self._redis.scan_iter(match=PATTERN, count=100):
            if key.decode() == KEY.format(node):
                continue
            for value in self._redis.hvals(key):
                if json.loads(value).get("number") == number:
                    return True
        return False
