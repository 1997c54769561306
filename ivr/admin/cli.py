"""What ``ivr admin`` and ``ivr admin create-user`` run.

The server is werkzeug's threaded WSGI server on loopback by default (127.0.0.1:8080): the admin
is for a handful of office staff, and a TLS-terminating reverse proxy belongs in front of it
when it is reachable from other machines. Where to publish and where Asterisk reads the prompt
audio come from the settings (``NU_ASTERISK_ETC``, ``NU_ASTERISK_SOUNDS_SYNC_DIR``): ``ivr up``
sets both for its chroot.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.config import Settings

if TYPE_CHECKING:
    from ivr.admin.publish import AsteriskTarget

log = logging.getLogger("ivr.admin")


def publish_target(asterisk_etc: str | None) -> AsteriskTarget | None:
    """The Asterisk to publish to: the one whose rendered configuration is in ``asterisk_etc``
    (``--asterisk-etc``, else ``NU_ASTERISK_ETC``); None (the dialplan file only) without one."""
    from ivr.admin.publish import AsteriskTarget

    return AsteriskTarget.from_etc(asterisk_etc) if asterisk_etc else None


def node_folders(nodes: str) -> list[tuple[str, str]]:
    """``NU_ASTERISK_NODES`` as (name, folder) pairs: ``name=/folder`` or ``/folder`` (named
    after the folder), separated by commas or spaces."""
    pairs = []
    for item in nodes.replace(",", " ").split():
        name, sep, folder = item.partition("=")
        pairs.append((name, folder) if sep else (item, item))
    return pairs


def publish_targets(settings: Settings, asterisk_etc: str | None) -> list[AsteriskTarget]:
    """Every Asterisk node to publish to: ``NU_ASTERISK_NODES`` when set, else the one of
    :func:`publish_target` (none: the dialplan file only)."""
    from ivr.admin.publish import AsteriskTarget

    if settings.asterisk_nodes:
        return [
            AsteriskTarget.from_etc(folder, name=name)
            for name, folder in node_folders(settings.asterisk_nodes)
        ]
    target = publish_target(asterisk_etc)
    return [target] if target else []


def sounds_sync(settings: Settings) -> Callable[[], Path] | None:
    """What copies the built audio to ``NU_ASTERISK_SOUNDS_SYNC_DIR`` (Asterisk's side of a
    chroot or a mount); None when it is empty and Asterisk reads ``NU_SOUNDS_DIR`` itself."""
    if not settings.asterisk_sounds_sync_dir:
        return None
    from ivr.prompts.deploy import sync_sounds

    source, target = Path(settings.sounds_dir), Path(settings.asterisk_sounds_sync_dir)
    return lambda: sync_sounds(source, target)


def run_admin(settings: Settings, host: str, port: int, asterisk_etc: str | None) -> int:
    from werkzeug.serving import make_server

    from ivr.admin.app import create_app

    targets = publish_targets(settings, asterisk_etc)
    if not targets:
        log.warning(
            "no Asterisk configuration (NU_ASTERISK_ETC or --asterisk-etc): "
            "publishing writes the dialplan file only"
        )
    target = targets[0] if len(targets) == 1 else targets or None  # several: every node
    app = create_app(settings, target=target, sync_sounds=sounds_sync(settings))
    server = make_server(host, port, app, threaded=True)
    print(f"Numero Unico admin on http://{host}:{server.server_port}/ (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def sync_nodes(
    settings: Settings, targets: Sequence[AsteriskTarget], reload: bool, every_s: float | None
) -> int:
    """``ivr asterisk sync``: every node behind the live version caught up, once or every
    ``every_s`` seconds (the ``nodesync`` process). Exit 1 when a node is still behind."""
    import signal
    import threading

    from sqlalchemy.exc import SQLAlchemyError

    from ivr.admin.db import open_database
    from ivr.admin.publish import Publisher

    try:
        publisher = Publisher(settings, open_database(settings.database_url), list(targets))
    except SQLAlchemyError as err:  # the supervisor (or systemd) tries again later
        print(f"the city database cannot be reached: {type(err).__name__}", file=sys.stderr)
        return 1
    if every_s is None:
        nodes = publisher.sync(reload=reload)
        for node in nodes:
            print(f"{node.name}: {'ok' if node.ok else 'BEHIND'}: {node.message}")
        return 0 if all(node.ok for node in nodes) else 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        try:
            publisher.sync(reload=reload)  # logs what caught up and what is still behind
        except Exception:  # a database hiccup: try again next round
            log.exception("sync round failed")
        stop.wait(every_s)
    return 0


def catch_up_before_start(settings: Settings, etc_dir: str | Path) -> bool:
    """Render the live version into a node's folder before its Asterisk starts (``ivr asterisk
    sync --files-only --etc``, a cluster starter's first step for each node): the node then
    never runs an older version. False when it could not (it starts on its last files, and the
    ``nodesync`` process catches it up)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.admin.db import open_database
    from ivr.admin.publish import Publisher

    try:
        sessions = open_database(settings.database_url)
    except SQLAlchemyError:
        log.warning(
            "node %s starts on its last files: the city database cannot be reached", etc_dir
        )
        return False
    publisher = Publisher(settings, sessions, publish_target(str(etc_dir)))
    return all(node.ok for node in publisher.sync(reload=False))


def create_user(
    settings: Settings, username: str, role: str, language: str, password_stdin: bool
) -> int:
    from ivr.admin import auth
    from ivr.admin.db import open_database
    from ivr.admin.models import AuditEntry

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 1
    sessions = open_database(settings.database_url)
    try:
        with sessions.begin() as db:
            auth.create_user(db, username, password, role, language)
            db.add(
                AuditEntry(
                    username="cli", action="user_create", target=username, after=f"role={role}"
                )
            )
    except auth.AccountError as err:
        print(f"cannot create {username}: {err}", file=sys.stderr)
        return 1
    print(f"user {username} ({role}) created in {_where(settings.database_url)}")
    return 0


def _where(url: str) -> str:
    return (
        str(Path(url.removeprefix("sqlite:///"))) if url.startswith("sqlite:") else "the database"
    )
