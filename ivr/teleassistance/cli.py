"""``ivr teleassistance list|add|import|export|erase|suspend|resume|report``: enrolment (and
the weekly calls' figures, :mod:`ivr.teleassistance.report`) from a shell.

Every change is checked whole and refused with every problem, nothing changed. Phone numbers
are shown masked (:func:`ivr.logs.mask_number`); only ``export``, which answers the citizen's
own data-access request, writes them in full, to a file readable by its owner alone. Nothing
here logs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ivr.logs import mask_number
from ivr.teleassistance import report as figures
from ivr.teleassistance.csvio import CsvError
from ivr.teleassistance.rules import (
    SUSPENSION_REASONS,
    CitizenData,
    CitizenError,
    Problem,
    parse_contact,
    split_list,
    split_numbers,
)
from ivr.teleassistance.store import Enrolment, TeleassistanceStore


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser("teleassistance", help="teleassistance: citizens called every week")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="enrolled citizens (numbers masked)")
    listing.add_argument("--area", default="")
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--active", action="store_true", help="only those called today")
    state.add_argument("--suspended", action="store_true", help="only those suspended today")
    add = actions.add_parser("add", help="enrol a citizen")
    add.add_argument("--name", required=True)
    add.add_argument("--numbers", required=True, help="first called first: '0612345678|333...'")
    add.add_argument("--language", required=True, help="it en fr es de zh ar")
    add.add_argument("--weekdays", required=True, help="e.g. mon,thu")
    add.add_argument("--kind", required=True, help="operator or automatic")
    add.add_argument(
        "--contact",
        action="append",
        default=[],
        help="emergency contact name/number/relation/channel[/email] (repeat for more)",
    )
    add.add_argument("--consent-on", required=True, help="YYYY-MM-DD")
    add.add_argument("--consent-by", required=True, help="who recorded the consent")
    add.add_argument("--window", default="", help="HH:MM-HH:MM (default: the calling hours)")
    add.add_argument("--area", default="")
    add.add_argument("--notes", default="")
    importing = actions.add_parser("import", help="enrol every row of a CSV file, or nobody")
    importing.add_argument("file")
    export = actions.add_parser("export", help="everything about one citizen, as JSON")
    export.add_argument("id", type=int)
    export.add_argument("--out", required=True, help="file to write (mode 0600)")
    erase = actions.add_parser("erase", help="delete everything about a citizen (erasure)")
    erase.add_argument("id", type=int)
    erase.add_argument("--yes", action="store_true", help="it cannot be undone")
    suspend = actions.add_parser("suspend", help="no calls for a while")
    suspend.add_argument("id", type=int)
    suspend.add_argument("--reason", required=True, choices=SUSPENSION_REASONS)
    suspend.add_argument("--from", dest="start", default=None, help="YYYY-MM-DD (today)")
    suspend.add_argument("--to", dest="end", default=None, help="YYYY-MM-DD (until resumed)")
    actions.add_parser("resume", help="call again").add_argument("id", type=int)
    reporting = actions.add_parser(
        "report", help="calls placed, answered, missed and alarms, per week and area"
    )
    reporting.add_argument("--weeks", type=int, default=4, help="the last N weeks (4)")
    reporting.add_argument("--csv", action="store_true", help="CSV on standard output")
    return parser


def run(
    args: argparse.Namespace,
    store: TeleassistanceStore,
    local_now: Callable[[], datetime] = datetime.now,
) -> int:
    """``local_now``: the city's local time, the clock the weekly calls are kept in."""
    who = f"citizen {args.id}" if hasattr(args, "id") else "citizen"
    try:
        if args.action == "report":
            return _report(args, store, local_now())
        if args.action == "list":
            active = True if args.active else False if args.suspended else None
            print(table(store.citizens(area=args.area, active=active), store.clock().date()))
            return 0
        if args.action == "import":
            return _import(args.file, store)
        if args.action == "add":
            new = store.add(
                CitizenData(
                    name=args.name,
                    numbers=split_numbers(args.numbers),
                    language=args.language,
                    weekdays=split_list(args.weekdays),
                    call_kind=args.kind,
                    contacts=tuple(parse_contact(c) for c in args.contact),
                    consent_on=args.consent_on,
                    consent_by=args.consent_by,
                    window=args.window,
                    area=args.area,
                    notes=args.notes,
                )
            )
            print(f"citizen {new}: enrolled")
        elif args.action == "export":
            _write_private(Path(args.out), json.dumps(store.export(args.id), indent=2) + "\n")
            print(f"{who}: exported to {args.out} (unmasked: hand it to the citizen securely)")
        elif args.action == "erase":
            if not args.yes:
                print(f"{who}: erasing deletes everything about them and cannot be undone;")
                print("run again with --yes")
                return 1
            counts = store.erase(args.id)
            print(f"{who}: erased ({', '.join(f'{t}: {n}' for t, n in counts.items())})")
        elif args.action == "suspend":
            store.suspend(args.id, args.reason, _day(args.start, "from"), _day(args.end, "to"))
            print(f"{who}: suspended ({args.reason})")
        elif args.action == "resume":
            store.resume(args.id)
            print(f"{who}: active")
    except CitizenError as err:
        for problem in err.problems:
            print(f"{who}: {problem}")
        print("nothing was changed")
        return 1
    return 0


def table(citizens: list[Enrolment], today: date) -> str:
    if not citizens:
        return "no citizens enrolled (add one: ivr teleassistance add ... or import a CSV)"
    lines = [
        f"{'id':>5}  {'name':24}  {'numbers':16}  {'lang':4}  {'area':14}  "
        f"{'days':12}  {'window':11}  {'kind':9}  state"
    ]
    for c in citizens:
        d = c.data
        numbers = mask_number(d.numbers[0]) + (f" +{len(d.numbers) - 1}" if d.numbers[1:] else "")
        state = "active"
        if c.status == "suspended":
            until = f" to {c.suspended_to}" if c.suspended_to else ""
            now = "suspended" if c.suspended_on(today) else "suspension"
            state = f"{now} {c.suspended_from or ''}{until} ({c.suspension_reason})"
        lines.append(
            f"{c.id:>5}  {d.name[:24]:24}  {numbers:16}  {d.language:4}  {d.area[:14]:14}  "
            f"{','.join(d.weekdays):12}  {d.window:11}  {d.call_kind:9}  {state}"
        )
    lines.append(f"{len(citizens)} citizens")
    return "\n".join(lines)


def _import(file: str, store: TeleassistanceStore) -> int:
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
        added = store.import_csv(text)
    except CsvError as err:
        print(f"{file}: not imported, nothing changed:", file=sys.stderr)
        for message in err.messages:
            print(f"  {message}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as err:
        print(f"{file}: cannot read: {err}", file=sys.stderr)
        return 1
    print(f"imported: {added} citizens enrolled")
    return 0


def _report(args: argparse.Namespace, store: TeleassistanceStore, now: datetime) -> int:
    if not 1 <= args.weeks <= figures.MAX_WEEKS:
        print(f"--weeks: 1 to {figures.MAX_WEEKS}, not {args.weeks}", file=sys.stderr)
        return 2
    first, last = figures.last_weeks(now.date(), args.weeks)
    found = figures.report(store.engine, first, last, now)
    if args.csv:
        sys.stdout.write(figures.to_csv(found))
    else:
        print(f"Teleassistance calls, weeks {first} to {last} (per area; no personal data)")
        print(figures.to_text(found))
    return 0


def _day(text: str | None, field: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CitizenError([Problem(field, f"{text!r} is not a date YYYY-MM-DD")]) from None


def _write_private(path: Path, text: str) -> None:
    """Personal data: created readable by its owner only, never by the group or others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
