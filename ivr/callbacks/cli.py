"""``ivr callbacks list`` and ``ivr callbacks cancel``: what staff need to see and undo.

Numbers are shown masked (last two digits), as in the logs: enough to match a citizen who calls
about their request, not a list of phone numbers to copy.
"""

from __future__ import annotations

from typing import Any

from ivr.callbacks.store import CallbackStore
from ivr.logs import mask_number


def open_store(settings: Any) -> CallbackStore:
    from ivr.db import ready

    return CallbackStore(ready(settings.database_url))


def list_requests(store: CallbackStore, active_only: bool, limit: int) -> str:
    rows = store.recent(limit, active_only)
    if not rows:
        return "no callback requests" + (" waiting" if active_only else "")
    lines = [
        f"{'id':>5}  {'requested (UTC)':16}  {'state':9}  {'department':12}  lang  tries  "
        "number      outcome"
    ]
    for r in rows:
        lines.append(
            f"{r.id:>5}  {r.created_at:%Y-%m-%d %H:%M}  {r.state:9}  {r.department:12}  "
            f"{r.language:4}  {r.attempts:>5}  {mask_number(r.number):10}  {r.outcome or '-'}"
        )
    return "\n".join(lines)


def cancel_request(store: CallbackStore, request_id: int) -> tuple[bool, str]:
    row = store.get(request_id)
    if row is None:
        return False, f"no callback request {request_id}"
    if not store.cancel(request_id):
        return False, f"callback {request_id} is already {row.state}: nothing to cancel"
    return True, f"callback {request_id} cancelled (its place in the queue is given up)"
