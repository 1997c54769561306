"""The ``ivr`` command: one entry point for running, checking and building the city number."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ivr import config


def _dialplan_check(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.flow.issues import DialplanError
    from ivr.flow.loader import load_dialplan

    prompts = None if args.no_prompts else Path(args.prompts or settings.prompts_dir)
    try:
        dialplan = load_dialplan(args.file, prompts_dir=prompts)
    except DialplanError as err:
        for issue in err.issues:
            print(issue)
        print(f"{args.file}: {len(err.issues)} problem(s)", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"{args.file}: cannot read: {err.strerror}", file=sys.stderr)
        return 2
    print(f"{args.file}: ok ({len(dialplan.nodes)} nodes, {len(dialplan.departments)} departments)")
    return 0


def _serve(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.service import serve_forever

    return serve_forever(settings, host=args.host, port=args.port, max_calls=args.max_calls)


def _speech_serve(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.flow.loader import load_dialplan
    from ivr.speech.serve import serve

    plan = load_dialplan(settings.dialplan_path)
    return serve(settings.speech_models, args.port or settings.speech_port, plan)


def _call(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.console import run_console

    return run_console(settings, host=args.host, port=args.port, keys=args.keys)


def _render(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.asterisk.render import render
    from ivr.flow.loader import load_dialplan
    from ivr.operators.store import operator_lines

    dialplan = load_dialplan(args.dialplan or settings.dialplan_path)
    operators = operator_lines(settings.database_url, dialplan)
    proxy: dict[str, Any] = {}
    if settings.kamailio_listen:  # a node behind the city's Kamailio ("Two nodes")
        from ivr.kamailio.render import KamailioConfigError, parse_listen

        try:
            proxy["proxy_host"], proxy["proxy_port"] = parse_listen(settings.kamailio_listen)
        except KamailioConfigError as err:
            print(f"cannot render: {err}", file=sys.stderr)
            return 2
    written = render(dialplan, settings, Path(args.out), operators=operators, **proxy)
    behind = f", behind Kamailio at {settings.kamailio_listen}" if proxy else ""
    print(f"wrote {len(written)} files to {args.out} ({len(operators)} operator accounts{behind})")
    return 0


def _sync(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr asterisk sync``: the nodes (``--etc``, else NU_ASTERISK_NODES, else the one
    Asterisk) brought up to the live version."""
    from ivr.admin.cli import publish_target, publish_targets, sync_nodes

    if args.etc:
        targets = [t for t in map(publish_target, args.etc) if t is not None]
    elif settings.asterisk_nodes:
        targets = publish_targets(settings, None)
    else:
        targets = [t for t in [publish_target(str(_asterisk_etc(args, settings)))] if t]
    return sync_nodes(settings, targets, not args.files_only, args.every_s)


def _operators(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr operators ...``: change accounts, then publish them to Asterisk when it is known."""
    from ivr.admin.cli import publish_target
    from ivr.admin.db import open_database
    from ivr.admin.publish import Publisher
    from ivr.db import ready
    from ivr.flow.loader import load_dialplan
    from ivr.operators.cli import run
    from ivr.operators.store import OperatorStore

    store = OperatorStore(
        ready(settings.database_url), lambda: load_dialplan(settings.dialplan_path)
    )
    etc = _asterisk_etc(args, settings)  # the ``ivr up`` instance's when nothing is said
    target = publish_target(str(etc)) if (etc / "manager.conf").exists() else None
    if settings.asterisk_nodes and not args.etc:
        from ivr.admin.cli import publish_targets

        target = publish_targets(settings, None) or None  # every node
    publisher = Publisher(settings, open_database(settings.database_url), target)

    def publish(what: str) -> tuple[bool, str]:
        result = publisher.apply_operators("cli", what)
        return result.ok, result.message

    return run(args, store, publish)


def _prompts_build(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.flow.loader import load_dialplan
    from ivr.prompts.build import build_prompts
    from ivr.prompts.google_tts import synthesizers
    from ivr.prompts.progress import BuildProgress

    dialplan = load_dialplan(args.dialplan or settings.dialplan_path)
    first, fallback = synthesizers(settings)
    shown = BuildProgress()
    try:
        report = build_prompts(
            dialplan,
            settings.prompts_dir,
            settings.sounds_dir,
            synthesizer=first,
            fallback=fallback,
            progress=shown.line,
            tick=shown.tick,
        )
    finally:
        shown.close()
    print(report.summary())
    from ivr.prompts.hold_music import ensure_hold_music

    if ensure_hold_music(settings.sounds_dir):  # the queues' music on hold, when the city has none
        print(f"wrote default hold music to {settings.sounds_dir}/moh")
    for name, reason in sorted(report.failed.items()):
        print(f"failed: {name}: {reason}")
    for name in report.missing:
        print(f"missing: {name}: no text")
    return 0 if report.ok else 1


def _prompts_check(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.flow.issues import DialplanError
    from ivr.flow.loader import load_dialplan
    from ivr.prompts.check import check_prompts

    path = args.dialplan or settings.dialplan_path
    try:
        dialplan = load_dialplan(path)
        result = check_prompts(dialplan, settings.prompts_dir, args.sounds or settings.sounds_dir)
    except DialplanError as err:
        for issue in err.issues:
            print(issue)
        return 2
    except (OSError, ValueError) as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 2
    for gap in result.gaps:
        print(gap)
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(result.summary())
    return 0 if result.ok else 1


def _switch(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.flow.calendar import CITY_SWITCH
    from ivr.live import open_state

    target = CITY_SWITCH if args.target == "city" else args.target
    state = open_state(settings.redis_url)
    state.set_switch(target, args.state == "on")
    print(f"switch {args.target}: {args.state}")
    return 0


def _admin(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.admin import cli as admin_cli

    if getattr(args, "admin_action", None) == "create-user":
        return admin_cli.create_user(
            settings, args.username, args.role, args.language, args.password_stdin
        )
    return admin_cli.run_admin(
        settings,
        args.host or settings.admin_host,
        args.port or settings.admin_port,
        args.asterisk_etc or settings.asterisk_etc or None,
    )


def _booking(args: argparse.Namespace, settings: config.Settings) -> int:
    from booking import cli as booking_cli

    if args.action == "seed":
        return booking_cli.seed(settings, args.days)
    if args.action == "outbox":
        return booking_cli.run_outbox(settings, args.once)
    if args.action == "close":
        return booking_cli.close_day(
            settings, args.day, args.office, args.reason, args.keep_bookings
        )
    return booking_cli.list_bookings(settings, args.day, args.all)


ETC_HELP = "the rendered Asterisk configuration (AMI login); default NU_ASTERISK_ETC"


def _asterisk_etc(args: argparse.Namespace, settings: config.Settings) -> Path:
    """``--etc``, else NU_ASTERISK_ETC, else the ``ivr up`` instance's configuration."""
    if args.etc or settings.asterisk_etc:
        return Path(args.etc or settings.asterisk_etc)
    from ivr.devenv.asterisk import AsteriskInstance

    return AsteriskInstance("system", settings=settings).etc_dir


def _asterisk_log_dir(settings: config.Settings) -> Path:
    """NU_ASTERISK_LOG_DIR, else the ``ivr up`` instance's log folder."""
    if settings.asterisk_log_dir:
        return Path(settings.asterisk_log_dir)
    from ivr.devenv.asterisk import AsteriskInstance

    return AsteriskInstance("system", settings=settings).log_dir


def _logs_rotate(args: argparse.Namespace, settings: config.Settings) -> int:
    import signal
    import threading

    from ivr.logrotate import ASTERISK_LOGS, rotate, run_forever

    asterisk_logs = _asterisk_log_dir(settings)
    paths = [asterisk_logs / name for name in ASTERISK_LOGS]
    if settings.log_file:
        paths.append(Path(settings.log_file))
    state = settings.var_dir / "logrotate"
    keep, size = settings.log_keep_days, settings.log_max_size
    if args.every_hours is None:
        done = rotate(paths, state, keep, size)
        print(done.stderr.strip() or f"rotated what was due ({len(paths)} logs checked)")
        return done.returncode
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_forever(paths, state, keep, size, stop, every_s=args.every_hours * 3600)
    return 0


def _services(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.processes_cli import command

    return command(args, settings)


def _ami_connector(etc: Path) -> Callable[[], Any]:
    """A function opening a fresh AMI connection with the login in ``etc``'s manager.conf (read
    at each connection: a re-rendered configuration's new secret is picked up)."""

    def connect() -> Any:
        from ivr.asterisk.ami import AMIClient
        from ivr.asterisk.render import read_ami_credentials

        creds = read_ami_credentials(etc)
        return AMIClient(creds.host, creds.port, creds.username, creds.secret).connect()

    return connect


def _queues_watch(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.queues.store import RedisQueueStore
    from ivr.queues.watcher import QueueWatcher

    connect = _ami_connector(_asterisk_etc(args, settings))

    from ivr.flow.loader import load_dialplan
    from ivr.kpi.recorder import shared_recorder

    recorder = shared_recorder(settings.database_url)  # queue waits and outcomes for the KPIs
    languages = load_dialplan(settings.dialplan_path).languages  # a new language: restart
    guard = roster = None
    if settings.redis_url:  # who waits where, outside the node: calls lost with it
        from ivr.asterisk.render import read_ami_credentials
        from ivr.queues.rescue import build_guard

        creds = read_ami_credentials(_asterisk_etc(args, settings))
        node = args.node or settings.node or f"{creds.host}:{creds.port}"
        guard = build_guard(node, settings, recorder=recorder, languages=languages)
        from ivr.queues.roster import MemberRoster  # operators' membership, shared by nodes

        roster = MemberRoster(settings.redis_url)
    QueueWatcher(
        connect,
        RedisQueueStore(settings.redis_url),
        on_event=recorder.queue_event,
        languages=languages,
        guard=guard,
        roster=roster,
    ).run()
    return 0


def _callbacks_run(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.callbacks.worker import build_worker

    connect = _ami_connector(_asterisk_etc(args, settings))

    worker = build_worker(settings, connect)
    if worker is None:
        print("NU_CALLBACK_DIAL is not set: callbacks are off")
        return 1
    worker.run()
    return 0


def _outbound_run(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.outbound_service import build_dialler

    connect = _ami_connector(_asterisk_etc(args, settings))

    dialler = build_dialler(settings, connect)
    if dialler is None:
        print("NU_TELEASSISTANCE_DIAL is not set: no outbound call is placed")
        return 78  # EX_CONFIG: the supervisor leaves it stopped
    dialler.run()
    return 0


def _callbacks_list(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.callbacks.cli import list_requests, open_store

    print(list_requests(open_store(settings), args.active, args.limit))
    return 0


def _callbacks_cancel(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.callbacks.cli import cancel_request, open_store

    ok, message = cancel_request(open_store(settings), args.id)
    print(message)
    return 0 if ok else 1


def _sip(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr sip guard|bans|unban`` on the Asterisk whose configuration is ``--etc``."""
    from ivr.sip.cli import run

    return run(args, settings, _asterisk_etc(args, settings))


def _kamailio(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr kamailio render``: Kamailio's configuration for a production host."""
    from ivr.kamailio.cli import run

    return run(args, settings)


def _directory(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr directory ...`` on the city database; an import is then applied (names audio,
    staff phones) to the Asterisk whose configuration is in ``--etc`` (or ``ivr up``'s)."""
    from ivr.admin.cli import sounds_sync
    from ivr.db import ready
    from ivr.directory.apply import apply_directory
    from ivr.directory.cli import run
    from ivr.directory.store import DirectoryStore
    from ivr.flow.loader import load_dialplan

    dialplan = load_dialplan(settings.dialplan_path)
    store = DirectoryStore(ready(settings.database_url), settings.pbx_dial)

    def apply() -> object:

        etc = _asterisk_etc(args, settings)
        known = (etc / "manager.conf").exists()

        connect = _ami_connector(etc)

        return apply_directory(
            store,
            dialplan,
            settings.sounds_dir,
            etc_dir=etc if known else None,
            ami=connect if known else None,
            sync_sounds=sounds_sync(settings),
        )

    return run(args, store, dialplan, apply)


def _teleassistance(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr teleassistance ...`` on the city database, windows inside NU_TELEASSISTANCE_HOURS."""
    from ivr.db import ready
    from ivr.outbound_service import local_clock
    from ivr.retention import city_timezone
    from ivr.teleassistance.cli import run
    from ivr.teleassistance.store import TeleassistanceStore

    return run(
        args,
        TeleassistanceStore(ready(settings.database_url), settings.teleassistance_hours),
        local_clock(city_timezone(settings)),  # the weekly calls' clock: the city's local time
    )


def _backoffice(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr backoffice ...`` on the city database (:mod:`ivr.backoffice.cli`)."""
    from ivr.backoffice.cli import run
    from ivr.db import ready

    if args.area == "ingest":  # works with the database down: the spool waits
        return _backoffice_ingest(args, settings)
    return run(args, ready(settings.database_url))


def _kpi_report(args: argparse.Namespace, settings: config.Settings) -> int:
    from ivr.kpi.cli import report

    return report(settings, args.date_from, args.date_to)


def _retention(args: argparse.Namespace, settings: config.Settings) -> int:
    import threading

    from ivr import retention

    days = settings.retention_days if args.days is None else args.days
    if days < 1:
        print(f"--days must be at least 1, not {days}", file=sys.stderr)
        return 2
    zone = retention.city_timezone(settings)
    if args.action == "purge":
        report = retention.purge(
            settings.database_url,
            days,
            dry_run=args.dry_run,
            timezone=zone,
            on_erased=retention.backoffice_files(settings),
        )
        print("\n".join(report.lines()))
        return 0
    if args.every_hours <= 0:
        print(f"--every-hours must be positive, not {args.every_hours}", file=sys.stderr)
        return 2
    with retention.stop_on_signals(threading.Event()) as stop:
        retention.run(
            settings.database_url,
            days,
            every_s=args.every_hours * 3600,
            stop=stop,
            timezone=zone,
            on_erased=retention.backoffice_files(settings),
        )
    return 0


def _backoffice_ingest(args: argparse.Namespace, settings: config.Settings) -> int:
    """``ivr backoffice ingest``: store the voice-message requests that waited in the spool for
    the database; ``--every-s``: again every N seconds until stopped (``backoffice`` process)."""
    import threading

    from ivr.backoffice.spool import ingest
    from ivr.backoffice.store import BackofficeStore
    from ivr.db import ready
    from ivr.retention import stop_on_signals
    from ivr.service import backoffice_spool

    spool = backoffice_spool(settings).host
    with stop_on_signals(threading.Event()) as stop:
        while True:
            try:
                done = ingest(BackofficeStore(ready(settings.database_url)), spool)
                line = f"{done.stored} stored, {done.waiting} waiting, {done.refused} refused"
            except Exception as err:  # the database is away: the spool keeps everything
                line = f"database unavailable ({type(err).__name__}): the spool waits"
            if args.every_s <= 0:
                print(line)
                return 0
            if stop.wait(args.every_s):
                return 0


def _up(args: argparse.Namespace, settings: config.Settings) -> int:
    """The terminal keeps to ``ivr up``'s own steps; the processes' chatter goes to the log."""
    import dataclasses

    from ivr.devenv.up import run_system
    from ivr.logs import configure

    settings = dataclasses.replace(
        settings,
        log_file=settings.log_file or str(settings.var_dir / "log" / "ivr.log"),
        console_log_level="WARNING",
    )
    configure(settings, verbose=args.verbose)
    if args.nodes > 1:  # the cluster: N Asterisk nodes behind Kamailio (issue 15)
        from ivr.devenv.up_cluster import run_cluster

        return run_cluster(settings, args.nodes, args.node_prefix)
    return run_system(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the whole system on the embedded defaults")
    up.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="Asterisk nodes behind Kamailio on loopback ports (1: no Kamailio, as before)",
    )
    up.add_argument(
        "--node-prefix",
        default="node",
        help="the nodes' instance names in the chroot: PREFIX-a, PREFIX-b, ...",
    )
    up.set_defaults(func=_up)

    serve = sub.add_parser("serve", help="run the FastAGI service")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--max-calls", type=int, default=None)
    serve.set_defaults(func=_serve)

    speech = sub.add_parser("speech", help="offline speech recognition").add_subparsers(
        dest="speech_action", required=True
    )
    speech_serve = speech.add_parser("serve", help="load NU_SPEECH_MODELS once and serve calls")
    speech_serve.add_argument("--port", type=int, default=None)
    speech_serve.set_defaults(func=_speech_serve)

    call = sub.add_parser("call", help="console phone: call the running FastAGI service")
    call.add_argument("--host", default=None)
    call.add_argument("--port", type=int, default=None)
    call.add_argument("--keys", default=None, help="scripted keys, e.g. '1,2' ('-' = silence)")
    call.set_defaults(func=_call)

    dialplan = sub.add_parser("dialplan", help="dialplan tools").add_subparsers(
        dest="action", required=True
    )
    check = dialplan.add_parser("check", help="validate a dialplan YAML file")
    check.add_argument("file")
    check.add_argument("--prompts", default=None, help="prompt texts folder (default prompts/)")
    check.add_argument("--no-prompts", action="store_true", help="skip the prompt checks")
    check.set_defaults(func=_dialplan_check)

    asterisk = sub.add_parser("asterisk", help="Asterisk configuration").add_subparsers(
        dest="action", required=True
    )
    render = asterisk.add_parser("render", help="render asterisk-conf for the dialplan")
    render.add_argument("--out", required=True)
    render.add_argument("--dialplan", default=None)
    render.set_defaults(func=_render)
    sync = asterisk.add_parser(
        "sync", help="render and reload every node behind the live version (NU_ASTERISK_NODES)"
    )
    sync.add_argument(
        "--etc", action="append", default=None, help="this node only (repeatable); " + ETC_HELP
    )
    sync.add_argument(
        "--files-only",
        action="store_true",
        help="render the files, no reload: before the node's Asterisk starts",
    )
    sync.add_argument("--every-s", type=float, default=None, help="keep running, this often")
    sync.set_defaults(func=_sync)

    prompts = sub.add_parser("prompts", help="prompt audio").add_subparsers(
        dest="action", required=True
    )
    build = prompts.add_parser("build", help="synthesise changed prompts to 8 and 16 kHz audio")
    build.add_argument("--dialplan", default=None)
    build.set_defaults(func=_prompts_build)
    check_prompts = prompts.add_parser(
        "check", help="list prompts in use that lack a text or audio, and where they are used"
    )
    check_prompts.add_argument("--dialplan", default=None)
    check_prompts.add_argument("--sounds", default=None, help="audio folder (NU_SOUNDS_DIR)")
    check_prompts.set_defaults(func=_prompts_check)

    admin = sub.add_parser("admin", help="the admin web (edit, simulate, publish call flows)")
    admin.add_argument("--host", default=None, help="default NU_ADMIN_HOST (127.0.0.1)")
    admin.add_argument("--port", type=int, default=None, help="default NU_ADMIN_PORT (8080)")
    admin.add_argument(
        "--asterisk-etc", default=None, help="rendered Asterisk config to publish to"
    )
    admin.set_defaults(func=_admin)
    admin_sub = admin.add_subparsers(dest="admin_action")
    from ivr.admin.models import ROLES  # one list of roles

    create_user = admin_sub.add_parser("create-user", help="add an account (the first admin)")
    create_user.add_argument("username")
    create_user.add_argument(
        "--role",
        default="admin",
        choices=list(ROLES),
    )
    create_user.add_argument("--language", default="it", choices=["it", "en"])
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_user.set_defaults(func=_admin)

    booking = sub.add_parser("booking", help="offices, slots and bookings").add_subparsers(
        dest="action", required=True
    )
    booking_seed = booking.add_parser("seed", help="add the example city's offices and slots")
    booking_seed.add_argument("--days", type=int, default=28, help="days of slots to generate")
    booking_seed.set_defaults(func=_booking)
    booking_list = booking.add_parser("list", help="list bookings (active, soonest first)")
    booking_list.add_argument("--day", default=None, help="only this day (YYYY-MM-DD)")
    booking_list.add_argument("--all", action="store_true", help="cancelled ones too")
    booking_list.set_defaults(func=_booking)
    booking_outbox = booking.add_parser(
        "outbox", help="send booking confirmations (SMS gateway, SMTP) with retries"
    )
    booking_outbox.add_argument("--once", action="store_true", help="one pass, then exit")
    booking_outbox.set_defaults(func=_booking)
    booking_close = booking.add_parser(
        "close", help="close a day (strike, elections): slots withdrawn, bookings cancelled"
    )
    booking_close.add_argument("day", help="YYYY-MM-DD")
    booking_close.add_argument("--office", default=None, help="one office (default: all)")
    booking_close.add_argument("--reason", default="")
    booking_close.add_argument(
        "--keep-bookings", action="store_true", help="leave bookings for the back office"
    )
    booking_close.set_defaults(func=_booking)

    switch = sub.add_parser("switch", help="manual night/emergency switch")
    switch.add_argument("target", help="a department id, or 'city' for every department")
    switch.add_argument("state", choices=["on", "off"])
    switch.set_defaults(func=_switch)

    queues = sub.add_parser("queues", help="live queue state").add_subparsers(
        dest="action", required=True
    )
    watch = queues.add_parser("watch", help="keep each queue's state in Redis from AMI events")
    watch.add_argument("--etc", default=None, help=ETC_HELP)
    watch.add_argument(
        "--node", default="", help="this Asterisk node's name (default NU_NODE, or its AMI address)"
    )
    watch.set_defaults(func=_queues_watch)

    callbacks = sub.add_parser("callbacks", help="call citizens back").add_subparsers(
        dest="action", required=True
    )
    callbacks_run = callbacks.add_parser("run", help="keep places in queues, call back, retry")
    callbacks_run.add_argument("--etc", default=None, help=ETC_HELP)
    callbacks_run.set_defaults(func=_callbacks_run)
    outbound = sub.add_parser(
        "outbound", help="teleassistance calls, broadcasts, reminders"
    ).add_subparsers(dest="action", required=True)
    outbound_run = outbound.add_parser("run", help="place the due outbound calls (AMI)")
    outbound_run.add_argument("--etc", default=None, help=ETC_HELP)
    outbound_run.set_defaults(func=_outbound_run)
    callbacks_list = callbacks.add_parser("list", help="callback requests, newest first")
    callbacks_list.add_argument("--active", action="store_true", help="only those waiting")
    callbacks_list.add_argument("--limit", type=int, default=50)
    callbacks_list.set_defaults(func=_callbacks_list)
    callbacks_cancel = callbacks.add_parser("cancel", help="cancel a waiting callback request")
    callbacks_cancel.add_argument("id", type=int)
    callbacks_cancel.set_defaults(func=_callbacks_cancel)

    from ivr.operators.cli import add_parser as add_operators_parser

    add_operators_parser(sub, ETC_HELP)
    sub.choices["operators"].set_defaults(func=_operators)

    from ivr.directory.cli import add_parser as add_directory_parser

    add_directory_parser(sub, ETC_HELP).set_defaults(func=_directory)

    from ivr.teleassistance.cli import add_parser as add_teleassistance_parser

    add_teleassistance_parser(sub).set_defaults(func=_teleassistance)

    from ivr.backoffice.cli import add_parser as add_backoffice_parser

    add_backoffice_parser(sub).set_defaults(func=_backoffice)

    from ivr.kamailio.cli import add_parser as add_kamailio_parser

    add_kamailio_parser(sub).set_defaults(func=_kamailio)

    from ivr.sip.cli import add_parser as add_sip_parser

    add_sip_parser(sub, ETC_HELP).set_defaults(func=_sip)

    logs = sub.add_parser("logs", help="our and Asterisk's logs").add_subparsers(
        dest="action", required=True
    )
    logs_rotate = logs.add_parser("rotate", help="rotate by size and age (logrotate)")
    logs_rotate.add_argument(
        "--every-hours", type=float, default=None, help="keep running, rotating this often"
    )
    logs_rotate.set_defaults(func=_logs_rotate)

    services = sub.add_parser(
        "services", help="the long-lived processes (ivr/processes.py)"
    ).add_subparsers(dest="action", required=True)
    services.add_parser("list", help="each process: started or not, and why").set_defaults(
        func=_services
    )
    services.add_parser(
        "run", help="run every wanted process, restart crashed ones (the container)"
    ).set_defaults(func=_services)
    services_wanted = services.add_parser(
        "wanted", help="exit 0 if the settings give NAME work, else 1 (systemd ExecCondition)"
    )
    services_wanted.add_argument("name")
    services_wanted.set_defaults(func=_services)
    services_exec = services.add_parser("exec", help="become process NAME (systemd ExecStart)")
    services_exec.add_argument("name")
    services_exec.set_defaults(func=_services)
    services_systemd = services.add_parser("systemd", help="write the systemd units")
    services_systemd.add_argument("--out", required=True)
    services_systemd.add_argument("--prefix", default=None, help="install folder")
    services_systemd.set_defaults(func=_services)

    kpi = sub.add_parser("kpi", help="call KPIs").add_subparsers(dest="action", required=True)
    kpi_report = kpi.add_parser("report", help="calls, served, abandoned, waits vs the targets")
    kpi_report.add_argument("--from", dest="date_from", default=None, help="YYYY-MM-DD")
    kpi_report.add_argument("--to", dest="date_to", default=None, help="YYYY-MM-DD (included)")
    kpi_report.set_defaults(func=_kpi_report)

    retention = sub.add_parser(
        "retention", help="delete personal data older than NU_RETENTION_DAYS"
    ).add_subparsers(dest="action", required=True)
    retention_purge = retention.add_parser(
        "purge", help="delete old call records, finished callbacks and sent messages, once"
    )
    retention_purge.add_argument("--days", type=int, default=None, help="NU_RETENTION_DAYS")
    retention_purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    retention_purge.set_defaults(func=_retention)
    retention_run = retention.add_parser("run", help="purge now and every N hours until stopped")
    retention_run.add_argument("--days", type=int, default=None, help="NU_RETENTION_DAYS")
    retention_run.add_argument("--every-hours", type=float, default=24.0)
    retention_run.set_defaults(func=_retention)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ivr.logs import configure

    args = build_parser().parse_args(argv)
    settings = config.load()
    configure(settings, verbose=args.verbose)
    return int(args.func(args, settings) or 0)
