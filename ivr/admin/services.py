"""What the admin's views work with besides the request: one typed object per app.

:func:`ivr.admin.app.create_app` builds one :class:`AdminServices` and keeps it on the app; every
blueprint reaches it through :func:`services`, never through closures or untyped
``app.config`` keys, so a view's dependencies are visible, typed and replaceable in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from ivr.admin.auth import LoginLimiter
    from ivr.admin.publish import AsteriskTarget, Publisher
    from ivr.admin.service_levels import CallRecords
    from ivr.asterisk.ami import AMIClient
    from ivr.backoffice.store import BackofficeStore
    from ivr.config import Settings
    from ivr.desk.hub import DeskHub
    from ivr.directory.store import DirectoryStore
    from ivr.live import LiveState
    from ivr.operators.store import OperatorStore
    from ivr.prompts.build import Synthesizer
    from ivr.teleassistance.broadcasts import BroadcastStore
    from ivr.teleassistance.store import TeleassistanceStore

EXTENSION = "numero_unico_admin"  # the key in ``Flask.extensions``

Clock = Callable[[ZoneInfo], datetime]


@dataclass(frozen=True)
class AdminServices:
    """The city's settings and everything the admin talks to."""

    settings: Settings
    sessions: sessionmaker[Session]  # the admin tables (accounts, draft, versions, audit)
    publisher: Publisher  # publishes to ``target``
    target: AsteriskTarget | None  # the Asterisk to publish to; None: the dialplan file only
    live_source: Callable[[], AMIClient] | None  # the live view's AMI login; None: no Asterisk
    live_state: LiveState  # manual switches
    call_records: CallRecords  # the service levels page's data
    login_limiter: LoginLimiter
    clock: Clock  # the time now in a zone: the simulator's and the reports' "today"
    synthesizer: Synthesizer | None = None  # for "build audio"; None: espeak-ng
    sync_sounds: Callable[[], object] | None = None  # copies built audio to Asterisk's side

    def directory(self) -> DirectoryStore:
        """The switchboard directory on the city database (migrated once per process)."""
        from ivr.db import ready
        from ivr.directory.store import DirectoryStore

        return DirectoryStore(ready(self.settings.database_url), self.settings.pbx_dial)

    def operators(self) -> OperatorStore:
        """The operator accounts on the city database, checked against the live dialplan (the
        one Asterisk runs) and the directory's extensions (one extension, one phone)."""
        from ivr.admin.publish import check_text
        from ivr.db import ready
        from ivr.operators.rules import AccountError, Problem
        from ivr.operators.store import OperatorStore

        def live() -> Any:
            try:
                dialplan, _ = check_text(self.publisher.live_text(), self.settings, prompts=False)
            except OSError:
                dialplan = None
            if dialplan is None:
                raise AccountError([Problem("form", "no live dialplan: publish one first")])
            return dialplan

        directory = self.directory()
        return OperatorStore(
            ready(self.settings.database_url),
            live,
            taken=lambda: {e.extension for e in directory.entries() if e.extension},
        )

    def teleassistance(self) -> TeleassistanceStore:
        """The teleassistance enrolment on the city database, its windows inside the city's
        calling hours (``NU_TELEASSISTANCE_HOURS``)."""
        from ivr.db import ready
        from ivr.teleassistance.store import TeleassistanceStore

        return TeleassistanceStore(
            ready(self.settings.database_url), self.settings.teleassistance_hours
        )

    def broadcasts(self, clock: Callable[[], datetime] | None = None) -> BroadcastStore:
        """Broadcasts to the enrolled citizens of chosen areas, their windows inside the
        city's calling hours (``NU_TELEASSISTANCE_HOURS``); ``clock``: the city's local time
        now, naive (default: the host's)."""
        from ivr.db import ready
        from ivr.teleassistance.broadcasts import BroadcastStore

        return BroadcastStore(
            ready(self.settings.database_url),
            self.settings.teleassistance_hours,
            clock=clock or datetime.now,
        )

    def backoffice(self) -> BackofficeStore:
        """The back office's requests on the city database (the work queue, answers)."""
        from ivr.backoffice.store import BackofficeStore
        from ivr.db import ready

        return BackofficeStore(ready(self.settings.database_url))

    def desk_hub(self) -> DeskHub | None:
        """The operator desks' live feed from Asterisk (one per Asterisk, started on first
        use): ring events completed with the call's context from Redis and the citizen's
        bookings, callbacks and earlier calls. None without an Asterisk to follow."""
        if self.live_source is None:
            return None
        from ivr.db import ready
        from ivr.desk.citizen import citizen
        from ivr.desk.hub import DeskHub, hub_for
        from ivr.desk.store import CallContexts
        from ivr.kpi.desk_events import utcnow

        url, connect = self.settings.database_url, self.live_source
        contexts = CallContexts(self.settings.redis_url) if self.settings.redis_url else None

        def lookup(context: dict[str, Any]) -> dict[str, Any]:
            return citizen(
                ready(url),
                number=context.get("number") or "",
                hashed=context.get("caller_hash"),
                call_id=context.get("call_id") or "",
                now=utcnow(),
            )

        return hub_for(connect, lambda: DeskHub(connect, contexts, lookup))


def install(app: Flask, admin: AdminServices) -> None:
    app.extensions[EXTENSION] = admin


def services(app: Flask | None = None) -> AdminServices:
    """The admin services of ``app`` (default: the app handling the current request)."""
    found: Any = (app or current_app).extensions.get(EXTENSION)
    if not isinstance(found, AdminServices):
        raise RuntimeError("not an admin app: build it with ivr.admin.app.create_app")
    return found
