"""The operator accounts reach a running Kamailio: no restart for an operator added, changed,
disabled or removed.

Kamailio's own mechanism does it: the accounts are its ``htable`` "ops", loaded from a db_text
table (:func:`ivr.kamailio.render.write_accounts`); publishing rewrites the table and asks
Kamailio over its control socket (``kamcmd``) to ``htable.reload ops``, which swaps the whole
table at once (a removed account is gone, not left behind). What Kamailio then holds is read
back (``htable.dump``) and compared, as a node's reload is confirmed over AMI. An account that
was removed or whose secret changed also loses its registration (``ul.rm``): a node's next call
to it gets 480 instead of ringing a phone whose account is gone, and the phone's next REGISTER
is refused.

Called by :class:`ivr.admin.publish.Publisher` on every publication and operator change, and by
its ``sync`` (the ``nodesync`` process) to catch up a Kamailio that could not be reached.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.kamailio.render import KamailioConfigError, write_accounts

KAMCMD = "/usr/sbin/kamcmd"
TABLE = "ops"  # kamailio.cfg's htable


class KamailioControlError(RuntimeError):
    """Kamailio's control socket refused or did not answer; the message says why."""


def kamcmd_binary() -> str:
    found = shutil.which("kamcmd") or (KAMCMD if Path(KAMCMD).is_file() else None)
    if not found:
        raise KamailioControlError("kamcmd is not installed (Debian's kamailio package has it)")
    return found


def rpc(ctl: str, *command: str, timeout: float = 10.0) -> str:
    """One RPC command over the control socket ``ctl`` (a path, or ``unix:``/``tcp:...``);
    Kamailio's answer, or :class:`KamailioControlError` with its error."""
    address = ctl if re.match(r"(unix|tcp|udp):", ctl) else f"unix:{ctl}"
    try:
        done = subprocess.run(
            [kamcmd_binary(), "-s", address, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise KamailioControlError(f"no answer on {ctl} within {timeout:g} s") from None
    answer = done.stdout.strip()
    if done.returncode != 0 or answer.startswith("error:"):
        why = (answer or done.stderr.strip() or f"kamcmd exited {done.returncode}")[:300]
        raise KamailioControlError(why)
    return done.stdout


def loaded_accounts(ctl: str) -> dict[str, str]:
    """extension -> digest as Kamailio holds them now (``htable.dump ops``)."""
    dump = rpc(ctl, "htable.dump", TABLE)
    return dict(re.findall(r"name:\s*(\S+)\s*\n\s*value:\s*(\S+)", dump))


def drop_registration(ctl: str, extension: str) -> bool:
    """Forget the phone registered as ``extension`` (False: none was)."""
    try:
        rpc(ctl, "ul.rm", "location", f"s:{extension}")  # s: a string, not a number
    except KamailioControlError as err:
        if "404" in str(err) or "not found" in str(err).lower():
            return False
        raise
    return True


@dataclass
class AccountsApplied:
    """How Kamailio took the accounts: ``ok`` (it holds them, or no Kamailio to ask) and why."""

    ok: bool
    message: str
    dropped: tuple[str, ...] = ()  # extensions whose registration was removed


def apply_accounts(folder: Path, ctl: str | None, operators: Mapping[str, str]) -> AccountsApplied:
    """Make ``operators`` (extension -> digest) Kamailio's accounts: the table in ``folder``
    rewritten (read at Kamailio's next start whatever happens), then, with a control socket,
    reloaded and read back, and the registrations of accounts gone or changed dropped."""
    try:
        written = write_accounts(folder, operators)
    except (OSError, KamailioConfigError) as err:
        return AccountsApplied(False, f"cannot write Kamailio's accounts table: {err}")
    if not ctl:
        return AccountsApplied(True, "accounts table written" if written else "up to date")
    wanted = dict(operators)
    try:
        before = loaded_accounts(ctl)
        if before == wanted:
            return AccountsApplied(True, "up to date")
        rpc(ctl, "htable.reload", TABLE)
        after = loaded_accounts(ctl)
        if after != wanted:
            missing = sorted(set(wanted.items()) ^ set(after.items()))
            names = sorted({ext for ext, _ in missing})
            return AccountsApplied(
                False, f"Kamailio reloaded but does not hold the accounts {', '.join(names)}"
            )
        gone = sorted(ext for ext, digest in before.items() if wanted.get(ext) != digest)
        dropped = tuple(ext for ext in gone if drop_registration(ctl, ext))
    except KamailioControlError as err:
        return AccountsApplied(False, f"Kamailio not reloaded ({ctl}): {err}")
    message = f"{len(wanted)} operator accounts reloaded"
    if dropped:
        message += f"; registrations dropped: {', '.join(dropped)}"
    return AccountsApplied(True, message, dropped)
