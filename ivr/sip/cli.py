"""``ivr sip guard|bans|unban``: the ban process and its list, for whoever looks after SIP."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import time
from pathlib import Path
from typing import Any

from ivr.config import Settings
from ivr.sip.bans import BanFile


def add_parser(sub: Any, etc_help: str) -> argparse.ArgumentParser:
    """``ivr sip ...``; each action gets ``func(args, settings, etc_dir)`` via ``run``."""
    sip = sub.add_parser("sip", help="SIP hardening: bans after failed logins")
    actions = sip.add_subparsers(dest="sip_action", required=True)
    guard = actions.add_parser("guard", help="ban addresses after failed logins (AMI events)")
    bans = actions.add_parser("bans", help="the banned addresses and until when")
    unban = actions.add_parser("unban", help="lift the ban on an address now")
    unban.add_argument("address")
    for parser in (guard, bans, unban):
        parser.add_argument("--etc", default="", help=etc_help)
    return sip


def run(args: argparse.Namespace, settings: Settings, etc: Path) -> int:
    from ivr.asterisk.ami import AMIClient
    from ivr.asterisk.render import read_ami_credentials

    def connect() -> AMIClient:
        creds = read_ami_credentials(etc)
        return AMIClient(creds.host, creds.port, creds.username, creds.secret).connect()

    ban_file = BanFile(etc)
    if args.sip_action == "guard":
        from ivr.sip.guard import SipGuard

        SipGuard(connect, ban_file, settings).run()
        return 0
    if args.sip_action == "bans":
        now = time.time()
        for ban in sorted(ban_file.read().values()):
            if ban.until > now:
                until = dt.datetime.fromtimestamp(ban.until).astimezone().isoformat("T", "seconds")
                print(f"{ban.address}\tuntil {until}")
        return 0
    try:
        address = str(ipaddress.ip_address(args.address))
    except ValueError:
        print(f"not an IP address: {args.address!r}")
        return 2
    if not ban_file.remove(address):
        print(f"{address} is not banned")
        return 1
    try:
        with connect() as ami:
            ami.command("module reload res_pjsip.so")
    except OSError as exc:  # the file is changed: Asterisk applies it at its next reload
        print(f"unbanned {address}; Asterisk not reloaded ({exc})")
        return 0
    print(f"unbanned {address}")
    return 0
