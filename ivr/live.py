"""Live state shared by every process of the service: for now, the manual night/emergency switches.

Redis in production (the admin web flips a switch, every FastAGI worker sees it on the next call);
an in-memory store for the console phone and unit tests. A Redis outage must never stop calls:
reads fall back to "no switch on" and the failure is logged.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)

SWITCHES_KEY = "nu:switches"


class LiveState(Protocol):
    def switches(self) -> frozenset[str]: ...
    def set_switch(self, target: str, on: bool) -> None: ...


class MemoryState:
    def __init__(self) -> None:
        self._switches: set[str] = set()

    def switches(self) -> frozenset[str]:
        return frozenset(self._switches)

    def set_switch(self, target: str, on: bool) -> None:
        if on:
            self._switches.add(target)
        else:
            self._switches.discard(target)


class RedisState:
    def __init__(self, url: str) -> None:
        import redis  # imported here so tools that never touch Redis don't need a server

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def switches(self) -> frozenset[str]:
        try:
            return frozenset(m.decode() for m in self._redis.smembers(SWITCHES_KEY))
        except Exception as exc:  # any Redis failure degrades to "open"
            log.warning("live state unavailable, assuming no switch is on: %s", exc)
            return frozenset()

    def set_switch(self, target: str, on: bool) -> None:
        if on:
            self._redis.sadd(SWITCHES_KEY, target)
        else:
            self._redis.srem(SWITCHES_KEY, target)


def open_state(redis_url: str) -> LiveState:
    """Redis when a URL is configured, memory otherwise."""
    return RedisState(redis_url) if redis_url else MemoryState()
