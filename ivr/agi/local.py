"""Local AGI entry point (``AGI(ivr-agi)``): the same call handler over stdin/stdout.

Asterisk reads every line the script writes to stdout as a command, so a stray ``print()`` from
any library would become a ``510`` and shift every later reply. We keep a private handle on the
real stdout, then point fd 1 and ``sys.stdout`` at stderr (which Asterisk only logs).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from ivr.agi.adapter import AGIHangup, CityAGI

log = logging.getLogger("ivr.agi.local")


def take_stdio() -> tuple[BinaryIO, BinaryIO]:
    """Return (commands in, commands out) and make fd 1 / ``sys.stdout`` go to stderr."""
    out = os.fdopen(os.dup(1), "wb")
    rfile = os.fdopen(os.dup(0), "rb")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return rfile, out


def serve_local(handler: Callable[[CityAGI], Any]) -> int:
    """Run one call over the process's stdio; exit status 0 unless the handler itself failed."""
    rfile, wfile = take_stdio()
    agi = None
    try:
        agi = CityAGI(rfile, wfile, handle_sighup=True)
        handler(agi)
        return 0
    except AGIHangup:
        return 0
    except Exception:  # report and let AGISTATUS=FAILURE route to the operator
        log.exception("local AGI call failed")
        return 1
    finally:
        # Asterisk SIGHUPs a script still running after it closed stdout; Python restores the
        # default (fatal) disposition while exiting, which would turn a clean end into FAILURE.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if agi is not None:
            agi.close()
        else:
            rfile.close()
            wfile.close()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    from ivr import config
    from ivr.service import city_handler

    return serve_local(city_handler(config.load())[0])


if __name__ == "__main__":
    sys.exit(main())
