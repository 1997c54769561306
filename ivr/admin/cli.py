"""What ``ivr admin`` and ``ivr admin create-user`` run.

The server is werkzeug's threaded WSGI server on loopback by default (127.0.0.1:8080): the admin
is for a handful of office staff, and a TLS-terminating reverse proxy belongs in front of it
when it is reachable from other machines.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import sys
from pathlib import Path

from ivr.config import Settings

log = logging.getLogger("ivr.admin")


def default_target(settings: Settings, etc: str | None):
    """The Asterisk to publish to: ``etc`` if given, else the system instance of ``ivr up``
    when it has been rendered; None (files only) when there is none. The ``ivr up`` instance
    (given or found) also gets the prompt audio copied into its chroot after a publish."""
    from ivr.admin.publish import AsteriskTarget
    from ivr.devenv.asterisk import AsteriskInstance

    instance = AsteriskInstance("system", settings=settings)
    if etc and Path(etc).resolve() != instance.etc_dir.resolve():
        return AsteriskTarget.from_etc(etc), None
    if (instance.etc_dir / "extensions_nu.conf").is_file():
        return AsteriskTarget.from_etc(instance.etc_dir), instance.sync_sounds
    return None, None


def run_admin(settings: Settings, host: str, port: int, asterisk_etc: str | None) -> int:
    from werkzeug.serving import make_server

    from ivr.admin.app import create_app

    target, sync = default_target(settings, asterisk_etc)
    if target is None:
        log.warning("no rendered Asterisk found: publishing writes the dialplan file only")
    app = create_app(settings, target=target, sync_sounds=sync)
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
