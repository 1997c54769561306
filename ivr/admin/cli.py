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
from collections.abc import Callable
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

    target = publish_target(asterisk_etc)
    if target is None:
        log.warning(
            "no Asterisk configuration (NU_ASTERISK_ETC or --asterisk-etc): "
            "publishing writes the dialplan file only"
        )
    app = create_app(settings, target=target, sync_sounds=sounds_sync(settings))
    server = make_server(host, port, app, threaded=True)
    print(f"Numero Unico admin on http://{host}:{server.server_port}/ (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


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
