"""``ivr directory list|export|import|secret``: the switchboard directory from a terminal.

``import`` is all-or-nothing: a file with broken rows changes nothing and prints one line per
problem (row and field); after a good import the names are spoken into audio and the staff
phones given to Asterisk (:func:`ivr.directory.apply.apply_directory`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ivr.directory.csvio import CsvError
from ivr.directory.store import DirectoryStore


def add_parser(sub: Any, etc_help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser("directory", help="switchboard directory: offices and staff by name")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="entries by name (QUERY: name, alias, extension)")
    listing.add_argument("query", nargs="?", default="")
    export = actions.add_parser("export", help="write the directory as CSV (default: stdout)")
    export.add_argument("file", nargs="?", default="-")
    importing = actions.add_parser("import", help="add or update entries from a CSV file")
    importing.add_argument("file")
    importing.add_argument("--etc", default=None, help=etc_help)
    secret = actions.add_parser("secret", help="the SIP password of a staff phone's extension")
    secret.add_argument("extension")
    return parser


def run(args: argparse.Namespace, store: DirectoryStore, dialplan: Any, apply: Any) -> int:
    if args.action == "list":
        rows = store.entries(args.query)
        for r in rows:
            where = r.extension or f"PBX {r.external}"
            state = "" if r.enabled else "  (disabled)"
            print(f"{r.id:>4}  {r.name:32}  {r.kind:6}  {where:16}  {r.department}{state}")
        print(f"{len(rows)} entries")
        return 0
    if args.action == "export":
        text = store.export_csv()
        if args.file == "-":
            sys.stdout.write(text)
        else:
            Path(args.file).write_text(text, encoding="utf-8")
        return 0
    if args.action == "secret":
        found = [p for p in store.staff_phones() if p.extension == args.extension]
        if not found:
            print(f"no enabled staff phone with extension {args.extension}", file=sys.stderr)
            return 1
        print(found[0].secret)
        return 0
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
        result = store.import_csv(text, dialplan)
    except CsvError as err:
        print(f"{args.file}: not imported, nothing changed:", file=sys.stderr)
        for message in err.messages:
            print(f"  {message}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as err:
        print(f"{args.file}: cannot read: {err}", file=sys.stderr)
        return 1
    print(f"imported: {result.added} added, {result.updated} updated")
    applied = apply()
    print(applied.message)
    return 0 if applied.ok else 1
