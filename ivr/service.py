"""Wire the FastAGI service: settings + dialplan source + live state -> call handler.

This is the only place that knows all the pieces; each piece stays testable on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.agi.adapter import CityAGI
from ivr.agi.runner import CallOutcome, Listener, RecordingSpool, make_handler
from ivr.agi.server import FastAGIServer
from ivr.config import Settings
from ivr.flow.engine import CallSession
from ivr.flow.services import Service, Services
from ivr.flow.source import DialplanSource
from ivr.live import LiveState, open_state

log = logging.getLogger("ivr.service")


def session_factory(
    source: DialplanSource,
    state: LiveState,
    clock: Callable[[ZoneInfo], datetime] | None = None,
    speech: str | None = None,
    callbacks: bool | None = None,
) -> Callable[[CityAGI], CallSession]:
    """Each call starts on the current dialplan version, at local time, with the live switches.

    ``speech``: the languages this system recognises ("it,en"; "" none), so that speech nodes
    offer keys instead of listening in vain; None when unknown (a listener given by the caller).
    ``callbacks``: whether citizens can be called back (an outbound line), so that a callback
    node doesn't take a number it can't call; None when unknown (services given by the caller).
    """
    clock = clock or datetime.now
    extra = {} if speech is None else {"speech": speech}
    if callbacks is not None:
        extra["callbacks"] = "on" if callbacks else "off"

    def factory(agi: CityAGI) -> CallSession:
        dialplan = source.current()
        number = agi.env.get("agi_callerid", "")
        return CallSession(
            dialplan,
            now=clock(ZoneInfo(dialplan.timezone)),
            switches=state.switches(),
            # booking keeps the number for its SMS; "unknown"/"anonymous" is no number
            caller={
                "number": number if number.lstrip("+").isdigit() else "",
                "call_id": agi.env.get("agi_uniqueid", ""),  # a callback's original call
                **extra,
            },
        )

    return factory


def city_services(
    settings: Settings, dialplan: Any, clock: Callable[[ZoneInfo], datetime] | None = None
) -> dict[str, Service]:
    """The services the city's call flows invoke: ``booking.*`` and ``directory.*`` (the
    switchboard) on the configured database,
    and ``queues.state`` (live queue state, for saturation policies) when Redis is configured.
    ``dialplan``: the city's, or a function returning the current published one (booking then
    reads its calendar per call)."""
    from booking.phone_services import DatabaseBooking

    zone = ZoneInfo((dialplan() if callable(dialplan) else dialplan).timezone)
    local = (lambda: clock(zone)) if clock else None
    services = dict(DatabaseBooking(settings.database_url, dialplan, local).services())
    from ivr.directory.store import database_services as directory_services

    services.update(directory_services(settings.database_url, settings.pbx_dial))
    from ivr.backoffice.phone_services import database_services as backoffice_services

    services.update(
        backoffice_services(
            settings.database_url,
            backoffice_spool(settings).host,
            Path(settings.asterisk_sounds_sync_dir or settings.sounds_dir),
        )
    )
    if settings.callback_dial:  # no outbound line: no callbacks, the node puts callers through
        from ivr.callbacks.store import DatabaseCallbacks

        services.update(DatabaseCallbacks(settings.database_url).services())
    if settings.redis_url:
        from ivr.queues.store import RedisQueueStore

        services["queues.state"] = RedisQueueStore(settings.redis_url).service
    return services


def record_outcomes(
    settings: Settings, then: Callable[[CityAGI, CallOutcome], object] | None = None
) -> Callable[[CityAGI, CallOutcome], object]:
    """Every call's record for the KPIs (``ivr/kpi/``), queued to a background writer so the
    call never waits for the database; then ``then``, the caller's own hook, if any."""
    from ivr.kpi.recorder import shared_recorder

    recorder = shared_recorder(settings.database_url)

    def on_outcome(agi: CityAGI, outcome: CallOutcome) -> None:
        recorder.ivr_outcome(agi, outcome)
        if then is not None:
            then(agi, outcome)

    return on_outcome


def publish_contexts(
    settings: Settings,
    source: DialplanSource,
    then: Callable[[CityAGI, CallOutcome], object] | None = None,
    clock: Callable[[], float] | None = None,
) -> Callable[[CityAGI, CallOutcome], object]:
    """The operator desk's call context (``ivr/desk/``): a call handed to a queue leaves its
    language, path in words, what was said, why, when and who (the number, and its keyed hash)
    in Redis by its uniqueid; every call's record gets the keyed hash. Off the call's thread."""
    import time

    from ivr.desk.context import build_context
    from ivr.desk.publisher import ContextPublisher
    from ivr.desk.store import CallContexts
    from ivr.flow.actions import Transfer
    from ivr.kpi.caller_hash import caller_hash, load_key
    from ivr.kpi.recorder import shared_recorder

    key = load_key(settings.var_dir)
    recorder = shared_recorder(settings.database_url)
    publisher = ContextPublisher(CallContexts(settings.redis_url)) if settings.redis_url else None
    now = clock or time.time

    def on_outcome(agi: CityAGI, outcome: CallOutcome) -> None:
        call_id = agi.env.get("agi_uniqueid", "")
        raw = agi.env.get("agi_callerid", "")
        number = raw if raw.lstrip("+").isdigit() else ""
        hashed = caller_hash(key, number)
        if hashed is not None:
            recorder.submit(call_id, lambda rec: setattr(rec, "caller_hash", hashed))
        final, at = outcome.final, now()
        if publisher is not None and call_id and isinstance(final, Transfer):
            path, data = list(outcome.path), dict(outcome.data)

            def build() -> dict[str, Any]:
                return build_context(
                    source.current(),
                    call_id=call_id,
                    department=final.department,
                    queue=final.queue,
                    language=final.language,
                    reason=final.reason,
                    path=path,
                    data=data,
                    at=at,
                    caller_hash=hashed,
                    number=number,
                )

            publisher.submit(call_id, build)
        if then is not None:
            then(agi, outcome)

    on_outcome.publisher = publisher  # type: ignore[attr-defined]  # tests flush it
    return on_outcome


def speech_spool(settings: Settings) -> tuple[str, Path]:
    """The recordings folder as Asterisk sees it and as we see it (one folder, two paths when
    Asterisk runs in a chroot or on another host)."""
    host = Path(settings.speech_spool_dir or settings.var_dir / "speech")
    return settings.asterisk_speech_spool_dir or str(host), host


def backoffice_spool(settings: Settings) -> RecordingSpool:
    """Where the IVR records voice messages (``leave_request``): one folder, as Asterisk sees it
    and as we see it, and the city's longest message."""
    from ivr.backoffice.spool import folder

    host = folder(settings)
    return RecordingSpool(
        settings.asterisk_backoffice_spool_dir or str(host), host, settings.backoffice_message_s
    )


def speech_languages(settings: Settings) -> str:
    """The languages NU_SPEECH_MODELS configures, comma-separated ("" when malformed)."""
    from ivr.speech.serve import parse_models

    try:
        return ",".join(parse_models(settings.speech_models))
    except ValueError:
        return ""


def speech_listener(settings: Settings) -> Listener | None:
    """FastAGI speech when ``NU_SPEECH_MODELS`` is set: Asterisk records the caller into the
    spool, the recognition service (``ivr speech serve`` on ``NU_SPEECH_PORT``) decodes it.
    None otherwise: speech nodes then say speech is unavailable and go on (keys, menu)."""
    if not settings.speech_models:
        return None
    from ivr.speech.listener import recording_listener

    asterisk_spool, host_spool = speech_spool(settings)
    try:
        host_spool.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # calls still run: RECORD FILE fails and the operator takes over
        log.warning("speech spool %s unusable: %s", host_spool, exc)
    return recording_listener(
        ("127.0.0.1", settings.speech_port),
        settings.asterisk_sounds_dir,
        asterisk_spool,
        host_spool,
    )


def entry_points(
    default: Callable[[CityAGI], Any], scripts: dict[str, Callable[[CityAGI], Any]]
) -> Callable[[CityAGI], Any]:
    """One FastAGI port, a handler per entry point (as wazo-agid does): the path Asterisk asked
    for (``AGI(agi://host:port/<path>)``) picks it; no path, or an unknown one, is a city call."""

    def dispatch(agi: CityAGI) -> Any:
        script = agi.network_script.split("?", 1)[0].strip("/")
        return scripts.get(script, default)(agi)

    return dispatch


def city_handler(
    settings: Settings,
    *,
    clock: Callable[[ZoneInfo], datetime] | None = None,
    on_outcome: Callable[[CityAGI, CallOutcome], object] | None = None,
    services: Services | None = None,
    listener: Listener | None = None,
) -> tuple[Callable[[CityAGI], Any], DialplanSource]:
    """The production call handler (FastAGI or local AGI) and the dialplan source it reads.

    A city call, or the teleassistance courtesy call's question (``AGI(.../teleassistance)``,
    :mod:`ivr.agi.courtesy`, on the same listener).

    Without ``services``, the city's own: booking on ``settings.database_url`` (migrated now,
    or on first use if the database is down; a failing database answers "unavailable").
    Each call's KPI record goes to the same database (:func:`record_outcomes`). Booking,
    callbacks and call records share the process's one engine for it (:func:`ivr.db.engine_for`).
    """
    source = DialplanSource(settings.dialplan_path, settings.prompts_dir)
    if services is None:
        services = city_services(settings, source.current, clock)
    callbacks = "callbacks.request" in services  # else the callback node would ask in vain
    speech = None
    if listener is None:  # speech as configured (NU_SPEECH_MODELS): speech_listener
        listener = speech_listener(settings)
        speech = speech_languages(settings) if listener is not None else ""
    spool = backoffice_spool(settings)
    try:
        spool.host.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # calls still run: RECORD FILE fails and the operator takes over
        log.warning("back office spool %s unusable: %s", spool.host, exc)
    from ivr.agi.courtesy import SCRIPT, courtesy_handler

    courtesy = courtesy_handler(listener, None if speech is None else speech.split(","))
    handler = make_handler(
        session_factory(source, open_state(settings.redis_url), clock, speech, callbacks),
        settings.asterisk_sounds_dir,
        record_outcomes(settings, publish_contexts(settings, source, on_outcome)),
        fallback_queue=lambda: source.current().operator.queue,
        services=services,
        listener=listener,
        spool=spool,
    )
    return entry_points(handler, {SCRIPT: courtesy}), source


def build_server(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    max_calls: int | None = None,
    clock: Callable[[ZoneInfo], datetime] | None = None,
    on_outcome: Callable[[CityAGI, CallOutcome], object] | None = None,
    services: Services | None = None,
) -> FastAGIServer:
    """A ready-to-start FastAGI server for the configured city (not started)."""
    handler, source = city_handler(settings, clock=clock, on_outcome=on_outcome, services=services)
    return FastAGIServer(
        handler,
        host=host or settings.agi_host,
        port=settings.agi_port if port is None else port,  # 0: any free port
        max_calls=max_calls or settings.max_calls,
        overflow_queue=lambda: source.current().operator.queue,
    )


def serve_forever(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    max_calls: int | None = None,
) -> int:
    """``ivr serve``: blocks until SIGINT/SIGTERM."""
    server = build_server(settings, host=host, port=port, max_calls=max_calls)
    log.info("FastAGI service on %s:%s (max %s calls)", server.host, server.port, server.max_calls)
    server.serve_forever()
    from ivr.kpi.recorder import shared_recorder

    shared_recorder(settings.database_url).flush(5.0)  # the last calls' records, if it can
    return 0
