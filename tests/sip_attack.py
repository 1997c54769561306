"""Run the real sipvicious tools (``svwar``, ``svcrack``) from a chosen loopback address.

sipvicious 0.3.8's command lines accept ``-b/--bindingip`` but never pass it on (its scanner
classes take ``bindingip``; ``main()`` leaves it out), so every packet would leave from
127.0.0.1, the local trunk's address. :func:`run` starts the tool's own ``main()`` in a fresh
Python with that one argument put back, so tests can attack from 127.0.0.3 while a legitimate
phone works from 127.0.0.2. Only loopback targets are accepted.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from dataclasses import dataclass

_RUNNER = """
import functools, sys
tool, bind = sys.argv[1], sys.argv[2]
if tool == "svwar":
    from sipvicious import svwar as module
    module.TakeASip = functools.partial(module.TakeASip, bindingip=bind)
else:
    from sipvicious import svcrack as module
    module.ASipOfRedWine = functools.partial(module.ASipOfRedWine, bindingip=bind)
sys.argv = [f"sipvicious_{tool}", *sys.argv[3:]]
module.main()
"""


@dataclass(frozen=True)
class Outcome:
    output: str
    timed_out: bool

    def extensions_found(self) -> list[str]:
        """svwar's table rows: ``| 101 | reqauth |``."""
        return re.findall(r"^\|\s*(\d+)\s*\|\s*\w", self.output, flags=re.M)

    def cracked(self) -> bool:
        """Whether svcrack found a password (it prints ``The password for X is Y``)."""
        return (
            "The password for" in self.output
            or re.search(r"^\|\s*\d+\s*\|", self.output, re.M) is not None
        )


def run(tool: str, bind: str, target: str, port: int, *args: str, timeout: float = 60) -> Outcome:
    """Run sipvicious ``tool`` (``svwar``/``svcrack``) from ``bind`` against ``target:port``."""
    if tool not in ("svwar", "svcrack"):
        raise ValueError(tool)
    for address in (bind, target):
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"tests only ever attack loopback, not {address}")
    cmd = [sys.executable, "-c", _RUNNER, tool, bind, "-p", str(port), *args, target]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return Outcome(done.stdout + done.stderr, False)
    except subprocess.TimeoutExpired as expired:
        out = (expired.stdout or b"") + (expired.stderr or b"")
        text = out.decode(errors="replace") if isinstance(out, bytes) else out
        return Outcome(text, True)
