"""``ivr kamailio render``: Kamailio's configuration for a production host (docs/production.md).

Writes ``kamailio.cfg`` and ``dispatcher.list`` into ``--out`` (``/etc/kamailio`` for Debian's
``kamailio.service``), ``tls.cfg`` too with ``NU_SIP_TLS_CERT`` and ``NU_SIP_TLS_KEY`` (TLS for
operators' softphones on the SIP port + 1, as a single Asterisk offers it), and the enabled
operator accounts' table into ``NU_KAMAILIO_ACCOUNTS``, the folder publishing keeps current.
Every setting is checked first; a bad one is named with its value and nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ivr.config import Settings


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """``ivr kamailio ...``; each action runs through :func:`run`."""
    kamailio = sub.add_parser("kamailio", help="Kamailio in front of the Asterisk nodes")
    actions = kamailio.add_subparsers(dest="kamailio_action", required=True)
    render = actions.add_parser(
        "render",
        help="kamailio.cfg, dispatcher.list (NU_KAMAILIO_LISTEN, NU_KAMAILIO_NODES), the "
        "operator accounts' table (NU_KAMAILIO_ACCOUNTS) and tls.cfg (NU_SIP_TLS_CERT/KEY)",
    )
    render.add_argument("--out", required=True, help="the folder (Debian: /etc/kamailio)")
    render.add_argument("--dialplan", default=None, help="default: NU_DIALPLAN (the live one)")
    return kamailio


def settings_problems(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """What :func:`ivr.kamailio.render.render_kamailio` takes from ``settings``, and every
    problem with them (each naming the setting and its value)."""
    from ivr.kamailio.render import PRODUCTION_CTL, KamailioConfigError, parse_listen, parse_nodes

    options: dict[str, Any] = {"ctl_socket": settings.kamailio_ctl or PRODUCTION_CTL}
    problems = []
    if not settings.kamailio_listen:
        problems.append("NU_KAMAILIO_LISTEN is empty: Kamailio's address:port (192.0.2.10:5060)")
    else:
        try:
            options["listen"] = parse_listen(settings.kamailio_listen)
        except KamailioConfigError as err:
            problems.append(str(err))
    try:
        options["nodes"] = parse_nodes(settings.kamailio_nodes)
    except KamailioConfigError as err:
        problems.append(str(err))
    if not settings.kamailio_accounts:
        problems.append(
            "NU_KAMAILIO_ACCOUNTS is empty: the folder of the operator accounts' table, "
            "which publishing rewrites (/var/lib/kamailio/numero-unico)"
        )
    elif not Path(settings.kamailio_accounts).is_absolute():
        problems.append(f"NU_KAMAILIO_ACCOUNTS: {settings.kamailio_accounts!r} is not absolute")
    else:
        options["accounts_dir"] = Path(settings.kamailio_accounts)
    cert, key = settings.sip_tls_cert, settings.sip_tls_key
    if bool(cert) != bool(key):
        problems.append(
            "NU_SIP_TLS_CERT and NU_SIP_TLS_KEY go together (TLS for operators on port + 1): "
            f"certificate {cert!r}, key {key!r}"
        )
    elif cert:
        options["tls"] = (cert, key)
    return options, problems


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.flow.loader import load_dialplan
    from ivr.kamailio.render import KamailioConfigError, operator_digests, render_kamailio
    from ivr.operators.store import operator_lines

    options, problems = settings_problems(settings)
    for problem in problems:
        print(f"cannot render: {problem}", file=sys.stderr)
    if problems:
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    dialplan = load_dialplan(args.dialplan or settings.dialplan_path)
    try:
        operators = operator_digests(operator_lines(settings.database_url, dialplan))
    except SQLAlchemyError as err:
        why = type(err).__name__
        print(f"cannot read the operator accounts (NU_DATABASE_URL): {why}", file=sys.stderr)
        return 1
    try:
        cfg = render_kamailio(Path(args.out), operators=operators, **options)
    except KamailioConfigError as err:
        print(f"cannot render: {err}", file=sys.stderr)
        return 2
    nodes = ", ".join(f"{h}:{p}" for h, p in options["nodes"])
    tls = f"; TLS on port {options['listen'][1] + 1}" if "tls" in options else ""
    print(
        f"wrote {cfg} and {cfg.parent / 'dispatcher.list'} (nodes {nodes}{tls}); "
        f"{len(operators)} operator accounts in {options['accounts_dir']}"
    )
    return 0
