"""``ivr backoffice category list|add``: the back office's categories and their SLA hours from a
shell (the admin's Categories page does the same for admins).

Kept in a module of its own so that another ``ivr backoffice`` command (the GeoReport API's
keys, the work queue) can live beside it: :func:`add_parser` makes the ``backoffice`` group with
``category`` in it; a group made elsewhere takes ``category`` with :func:`add_category_parser`
and sends ``args.action == "category"`` to :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ivr.backoffice.rules import DEFAULT_SLA, SEVERITIES, Category, Problem, RequestError
from ivr.backoffice.store import BackofficeStore


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser("backoffice", help="back office: requests' categories")
    add_category_parser(parser.add_subparsers(dest="action", required=True))
    return parser


def add_category_parser(actions: Any) -> argparse.ArgumentParser:
    category = actions.add_parser("category", help="categories and their SLA hours")
    what = category.add_subparsers(dest="category_action", required=True)
    listing = what.add_parser("list", help="categories, with each severity's hours")
    listing.add_argument("--all", action="store_true", help="inactive ones too")
    add = what.add_parser("add", help="add a category, or change the one with this code")
    add.add_argument("code")
    add.add_argument("--department", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--description", default="")
    add.add_argument(
        "--sla", default="", help="hours per severity, e.g. urgent=2,normal=48 (else defaults)"
    )
    add.add_argument("--inactive", action="store_true", help="no new requests in it")
    return category


def parse_sla(text: str) -> dict[str, int]:
    """``urgent=2,normal=48`` as {severity: hours}; every bad part named under ``sla``."""
    sla: dict[str, int] = {}
    problems = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        severity, _, hours = part.partition("=")
        severity = severity.strip()
        if severity not in SEVERITIES:
            problems.append(Problem("sla", f"{severity!r} is not one of {', '.join(SEVERITIES)}"))
        elif not hours.strip().isdigit() or int(hours) < 1:
            problems.append(Problem("sla", f"{severity}: whole hours, at least 1"))
        else:
            sla[severity] = int(hours)
    if problems:
        raise RequestError(problems)
    return sla


def run(args: argparse.Namespace, store: BackofficeStore, out: TextIO = sys.stdout) -> int:
    if args.category_action == "list":
        found = store.categories(active_only=not args.all)
        out.write(
            f"{'code':20} {'department':14} " + " ".join(f"{s:>7}" for s in SEVERITIES) + "  name\n"
        )
        for c in found.values():
            hours = " ".join(
                f"{c.sla[s]:>7}" if s in c.sla else f"{'(' + str(DEFAULT_SLA[s]) + ')':>7}"
                for s in SEVERITIES
            )
            off = "" if c.active else " (inactive)"
            out.write(f"{c.code:20} {c.department:14} {hours}  {c.name}{off}\n")
        out.write("hours to solve a request; (n): the city's default\n")
        return 0
    try:
        category = Category(
            args.code,
            args.department,
            args.name,
            args.description,
            parse_sla(args.sla),
            not args.inactive,
        )
        existed = args.code in store.categories(active_only=False)
        store.save_category(category)
    except RequestError as err:
        for problem in err.problems:
            print(f"refused: {problem}", file=sys.stderr)
        return 2
    out.write(f"{'changed' if existed else 'added'}: {category.code}\n")
    return 0
