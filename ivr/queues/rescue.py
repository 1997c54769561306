"""What happens to a caller lost with a node (the edge of :mod:`ivr.queues.lost`).

* the call's record (``call_records``) gets the outcome ``lost_with_node``, for the KPIs;
* when the caller's number is known and callbacks are on, a callback request marked
  ``node_lost`` goes through the callback store, keeping the place they had: the callback
  worker serves it as any other. A caller who already called again is not doubled: their number
  waiting now on another node, or the store's one-active-per-number rule, says so.

A node frozen past the grace that resumes with the caller still queued: the callback, if still
active, is cancelled (the worker hangs up its placeholder) and the record is "queued" again.
The number never reaches a log line (:func:`ivr.logs.mask_number`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ivr.queues.lost import Waiting

log = logging.getLogger("ivr.queues.lost")

NODE_LOST = "node_lost"


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


class Rescue:
    """``callbacks``: a :class:`~ivr.callbacks.store.CallbackStore` (None: callbacks are off,
    lost calls are only counted); ``recorder``: a :class:`~ivr.kpi.recorder.CallRecorder` (or
    None); ``waiting``: the store of who waits where (:class:`~ivr.queues.waiting.RedisWaiting`).
    """

    def __init__(self, callbacks: Any, recorder: Any, waiting: Any) -> None:
        self.callbacks, self.recorder, self.waiting = callbacks, recorder, waiting
        self.offered: dict[str, int] = {}  # call id -> callback request id (this process)

    def lost(self, w: Waiting, at: float) -> str:
        """Count the call and offer the callback; returns what was done (for tests and logs)."""
        from ivr.kpi.records import apply_node_lost
        from ivr.logs import mask_number

        if self.recorder is not None:
            when = _utc(at)
            self.recorder.submit(w.call_id, lambda rec: apply_node_lost(rec, when))
        result = self._offer(w)
        log.warning(
            "call %s lost with node %s (queue %s, caller %s): %s",
            w.call_id,
            w.node,
            w.queue,
            mask_number(w.number),
            result,
        )
        return result

    def _offer(self, w: Waiting) -> str:
        from ivr.callbacks.store import DuplicateCallback
        from ivr.flow.services import ServiceError

        if self.callbacks is None:
            return "counted (callbacks are off)"
        if not w.number:
            return "counted (no number to call back)"
        try:
            if self.waiting.elsewhere(w.number, w.node):
                return "counted (the caller already waits on another node)"
        except Exception as exc:  # Redis down: the store's rule still prevents doubles
            log.warning("waiting callers unreadable (%s)", type(exc).__name__)
        try:
            request_id = self.callbacks.request(
                w.number,
                w.language or "it",
                w.department,
                w.queue,
                w.position,
                w.call_id,
                reason=NODE_LOST,
            )
        except DuplicateCallback:
            return "counted (the caller already has a callback)"
        except ServiceError as err:
            return f"counted (callback refused: {err})"
        self.offered[w.call_id] = request_id
        return f"callback {request_id} offered"

    def revived(self, call_id: str) -> None:
        """Declared lost, found waiting: withdraw the callback, the call is queued again."""
        from ivr.kpi.records import apply_node_revived

        if self.recorder is not None:
            self.recorder.submit(call_id, apply_node_revived)
        if self.callbacks is None:
            return
        for row in self.callbacks.for_call(call_id, NODE_LOST):
            if self.callbacks.cancel(row.id):
                log.warning("call %s waits again: callback %d withdrawn", call_id, row.id)


def build_guard(
    node: str,
    settings: Any,
    *,
    recorder: Any = None,
    languages: Any = (),
    grace_s: float | None = None,
    clock: Callable[[], float] | None = None,
) -> Any:
    """The :class:`~ivr.queues.lost.NodeGuard` for ``node`` with these settings: Redis for who
    waits, the city database for callbacks (when ``NU_CALLBACK_DIAL`` is set)."""
    import time

    from ivr.queues.lost import NodeGuard
    from ivr.queues.waiting import RedisWaiting

    waiting = RedisWaiting(settings.redis_url)
    callbacks = None
    if settings.callback_dial:
        from ivr.callbacks.store import CallbackStore
        from ivr.db import ready

        callbacks = CallbackStore(ready(settings.database_url))
    rescue = Rescue(callbacks, recorder, waiting)
    return NodeGuard(
        node,
        waiting,
        rescue.lost,
        grace_s=settings.node_lost_grace_s if grace_s is None else grace_s,
        languages=languages,
        revived=rescue.revived,
        now=(clock or time.time)(),
    )
