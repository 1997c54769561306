"""Call contexts in Redis, by Asterisk uniqueid, for a few hours: the FastAGI process writes one
when the IVR hands a caller over; the desk reads it when an operator's phone rings and adds the
operators' notes on a transfer. Personal data (the number, what was said): Redis only, with a
TTL, never a log line. A Redis that is down loses the context, never the call.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

TTL_S = 4 * 3600
PREFIX = "nu:call:"
NOTE_MAX = 300


def _key(call_id: str) -> str:
    return f"{PREFIX}{call_id}"


class CallContexts:
    """``put``/``get``/``add_note``/``notes``; reads answer empty when Redis fails."""

    def __init__(self, url: str, ttl_s: int = TTL_S) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl_s = ttl_s

    def put(self, call_id: str, context: dict[str, Any]) -> None:
        self.redis.set(_key(call_id), json.dumps(context), ex=self.ttl_s)

    def get(self, call_id: str) -> dict[str, Any] | None:
        """The call's context with its notes (oldest first), or None."""
        try:
            with self.redis.pipeline() as pipe:
                raw, notes = (
                    pipe.get(_key(call_id)).lrange(_key(call_id) + ":notes", 0, -1).execute()
                )
        except Exception as exc:
            log.warning("call context unavailable: %s", type(exc).__name__)
            return None
        if raw is None and not notes:
            return None
        context = json.loads(raw) if raw else {"call_id": call_id}
        context["notes"] = [json.loads(n) for n in notes]
        return context

    def add_note(self, call_id: str, by: str, text: str, to: str, at: float) -> None:
        """A transferring operator's note for whoever takes the call next."""
        note = json.dumps({"by": by, "text": text.strip()[:NOTE_MAX], "to": to, "at": at})
        key = _key(call_id) + ":notes"
        with self.redis.pipeline() as pipe:
            pipe.rpush(key, note).expire(key, self.ttl_s).execute()

    def update(self, call_id: str, **fields: Any) -> None:
        """Change some fields of a stored context (nothing when it has expired)."""
        context = self.get(call_id)
        if context is None:
            return
        context.pop("notes", None)
        context.update(fields)
        self.put(call_id, context)
