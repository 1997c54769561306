"""Live queue state in Redis: one hash per department queue, ``nu:queue:<queue>``.

The queue watcher (AMI events) writes it; every FastAGI worker reads it through the
``queues.state`` service when a transfer meets a saturation policy. Each hash carries
``updated`` (epoch seconds): state older than ``max_age_s`` is not trusted, so a dead watcher
degrades to "transfer as usual" instead of steering callers on stale numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from ivr.flow.services import UNAVAILABLE, ServiceError
from ivr.queues.estimate import QueueState

KEY = "nu:queue:{}"


class RedisQueueStore:
    def __init__(self, url: str, max_age_s: float = 120.0) -> None:
        import redis  # only processes that touch queues need the client

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.max_age_s = max_age_s

    def write(self, queue: str, state: QueueState, now: float | None = None) -> None:
        fields = {k: str(v) for k, v in asdict(state).items()}
        fields["updated"] = str(time.time() if now is None else now)
        self._redis.hset(KEY.format(queue), mapping=fields)

    def read(self, queue: str, now: float | None = None) -> dict[str, float] | None:
        """The queue's fields as numbers; None when unknown or stale."""
        raw = self._redis.hgetall(KEY.format(queue))
        if not raw:
            return None
        values = {k.decode(): float(v) for k, v in raw.items()}
        age = (time.time() if now is None else now) - values.get("updated", 0.0)
        return values if age <= self.max_age_s else None

    def service(self, args: dict[str, Any]) -> dict[str, float]:
        """``queues.state``: the runner's service; anything unreadable answers an error code."""
        try:
            values = self.read(str(args["queue"]))
        except Exception as exc:  # Redis down: the flow transfers as usual
            raise ServiceError(UNAVAILABLE) from exc
        if values is None:
            raise ServiceError("unknown")
        return values
