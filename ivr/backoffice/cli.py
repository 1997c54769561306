"""``ivr backoffice ...``: the back office from a shell.

One group, one area per subcommand (``api-key``, ``category``, ``ingest``); each leaf sets
``backoffice=function(args, engine) -> int`` with :func:`argparse.ArgumentParser.set_defaults`,
so a new area is one more ``add_parser`` in :func:`add_parser` and ``ivr/cli.py`` stays as is.
Every refusal names its field and changes nothing. Nothing here logs; nothing printed is a
citizen's data.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import Engine

from ivr.backoffice.api_keys import ApiKeys
from ivr.backoffice.rules import Category, RequestError
from ivr.backoffice.store import BackofficeStore


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser("backoffice", help="the back office: categories, GeoReport API keys")
    areas = parser.add_subparsers(dest="area", required=True)

    keys = areas.add_parser("api-key", help="Open311 GeoReport clients allowed to post")
    key_actions = keys.add_subparsers(dest="action", required=True)
    add = key_actions.add_parser("add", help="a new client's key, printed once")
    add.add_argument("name", help="who uses it: 'sito del comune', 'app segnalazioni'")
    add.set_defaults(backoffice=_key_add)
    key_actions.add_parser("list", help="clients and whether their key works").set_defaults(
        backoffice=_key_list
    )
    revoke = key_actions.add_parser("revoke", help="refuse a client's key from now on")
    revoke.add_argument("name")
    revoke.set_defaults(backoffice=_key_revoke)

    categories = areas.add_parser("category", help="kinds of request (GeoReport services)")
    category_actions = categories.add_subparsers(dest="action", required=True)
    save = category_actions.add_parser(
        "add", help="add a category, or change one by its code (every field said again)"
    )
    save.add_argument("code", help="lowercase letters, digits and _: buche, ingombranti")
    save.add_argument("--department", required=True, help="the department that handles it")
    save.add_argument("--name", required=True, help="the name citizens read")
    save.add_argument("--description", default="")
    save.add_argument(
        "--sla", default="", help="hours to solve per severity: urgent=4,high=24 (else defaults)"
    )
    save.add_argument("--inactive", action="store_true", help="kept, but offered to nobody")
    save.set_defaults(backoffice=_category_add)
    listing = category_actions.add_parser("list", help="categories and their SLA hours")
    listing.add_argument("--all", action="store_true", help="the inactive ones too")
    listing.set_defaults(backoffice=_category_list)

    # run by ivr/cli.py itself, database or not (the spool keeps what it cannot store)
    ingest = areas.add_parser(
        "ingest", help="store the IVR's voice-message requests kept while the database was down"
    )
    ingest.add_argument(
        "--every-s", type=float, default=0.0, help="again every N seconds until stopped"
    )
    return parser


def run(args: argparse.Namespace, engine: Engine) -> int:
    try:
        return args.backoffice(args, engine)
    except RequestError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 1


def _key_add(args: argparse.Namespace, engine: Engine) -> int:
    key = ApiKeys(engine).add(args.name)
    print(f"API key for {args.name.strip()} (shown once, only its digest is kept):")
    print(key)
    return 0


def _key_list(args: argparse.Namespace, engine: Engine) -> int:
    found = ApiKeys(engine).keys()
    for key in found:
        state = "active" if key.active else "revoked"
        print(f"{key.name:<40} {state:<8} since {key.created_at:%Y-%m-%d %H:%M}")
    print(f"{len(found)} key(s)")
    return 0


def _key_revoke(args: argparse.Namespace, engine: Engine) -> int:
    ApiKeys(engine).revoke(args.name)
    print(f"{args.name}: revoked")
    return 0


def parse_sla(text: str) -> dict[str, int]:
    """``urgent=4,high=24`` as hours per severity (checked by the rules when saved)."""
    sla: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        severity, _, hours = part.partition("=")
        try:
            sla[severity.strip()] = int(hours)
        except ValueError:
            sla[severity.strip()] = 0  # refused by the rules, naming the severity
    return sla


def _category_add(args: argparse.Namespace, engine: Engine) -> int:
    store = BackofficeStore(engine)
    known = args.code in store.categories(active_only=False)
    store.save_category(
        Category(
            args.code,
            args.department.strip(),
            args.name.strip(),
            args.description.strip(),
            parse_sla(args.sla),
            not args.inactive,
        )
    )
    print(f"{args.code}: {'changed' if known else 'added'}")
    return 0


def _category_list(args: argparse.Namespace, engine: Engine) -> int:
    found = BackofficeStore(engine).categories(active_only=not args.all)
    for c in found.values():
        sla = ",".join(f"{s}={h}" for s, h in c.sla.items()) or "defaults"
        state = "" if c.active else " (inactive)"
        print(f"{c.code:<24} {c.department:<16} {c.name}{state} [sla {sla}]")
    print(f"{len(found)} categor{'y' if len(found) == 1 else 'ies'}")
    return 0
