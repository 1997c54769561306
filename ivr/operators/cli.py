"""``ivr operators list|add|edit|disable|enable|rotate|remove``: operator accounts from a shell.

Every change is checked whole and, when Asterisk is reachable (``--etc`` or ``NU_ASTERISK_ETC``),
published at once through the admin's publish path (render, reload, confirm); a new or rotated
secret is printed once and never again. Changes are in the audit log under the ``cli`` user.
"""

from __future__ import annotations

import argparse
from typing import Any

from ivr.operators.rules import AccountError, AccountSpec, parse_languages, parse_skills
from ivr.operators.store import Account, OperatorStore


def add_parser(sub: Any, etc_help: str) -> None:
    ops = sub.add_parser("operators", help="operator accounts (SIP softphones)").add_subparsers(
        dest="action", required=True
    )
    ops.add_parser("list", help="the accounts: extension, name, languages, departments")
    for action, text in (
        ("add", "add an account; prints its SIP secret once"),
        ("edit", "change an account's name, languages or departments"),
    ):
        p = ops.add_parser(action, help=text)
        p.add_argument("extension")
        p.add_argument("--name", required=action == "add")
        p.add_argument("--languages", required=action == "add", help="e.g. it,en")
        p.add_argument(
            "--departments",
            required=action == "add",
            help="departments served with a priority each: tributi:1,anagrafe:2",
        )
    for action, text in (
        ("disable", "stop an account at once (no registration, out of every queue)"),
        ("enable", "let a disabled account register again"),
        ("rotate", "give an account a new SIP secret (printed once)"),
        ("remove", "delete an account"),
    ):
        ops.add_parser(action, help=text).add_argument("extension")
    for p in ops.choices.values():
        p.add_argument("--etc", default=None, help=etc_help)


def run(args: argparse.Namespace, store: OperatorStore, publish: Any) -> int:
    """``publish(what)``: make the accounts live in Asterisk; returns (ok, message)."""
    try:
        if args.action == "list":
            print(table(store.accounts()))
            return 0
        secret = None
        if args.action == "add":
            secret = store.add(
                AccountSpec(
                    args.extension,
                    args.name,
                    parse_languages(args.languages),
                    parse_skills(args.departments),
                )
            )
        elif args.action == "edit":
            current = store.get(args.extension)
            if current is None:
                print(f"no operator {args.extension}")
                return 1
            store.update(
                args.extension,
                AccountSpec(
                    args.extension,
                    args.name if args.name is not None else current.name,
                    parse_languages(args.languages)
                    if args.languages is not None
                    else current.languages,
                    parse_skills(args.departments)
                    if args.departments is not None
                    else current.skills,
                    current.enabled,
                ),
            )
        elif args.action in ("disable", "enable"):
            store.set_enabled(args.extension, args.action == "enable")
        elif args.action == "rotate":
            secret = store.rotate(args.extension)
        elif args.action == "remove":
            store.remove(args.extension)
    except AccountError as err:
        for problem in err.problems:
            print(f"operator {args.extension}: {problem}")
        print("nothing was changed")
        return 1
    ok, message = publish(f"{args.action} operator {args.extension}")
    print(f"operator {args.extension}: {args.action} done; Asterisk: {message}")
    if secret is not None:
        print(f"SIP user {args.extension}, secret (shown once, keep it): {secret}")
    return 0 if ok else 1


def table(accounts: list[Account]) -> str:
    if not accounts:
        return "no operator accounts (add one: ivr operators add EXT --name ... )"
    lines = [f"{'ext':6}  {'name':24}  {'languages':12}  {'state':8}  departments (priority)"]
    for a in accounts:
        skills = ", ".join(f"{d}:{p}" for d, p in a.skills) or "-"
        state = "enabled" if a.enabled else "disabled"
        lines.append(
            f"{a.extension:6}  {a.name[:24]:24}  {','.join(a.languages):12}  {state:8}  {skills}"
        )
    return "\n".join(lines)
