"""Every bench's first step: a temporary city of its own, never the real one.

A bench runs the product's own code, and that code writes where the settings say:
``ivr.service.city_handler`` migrates ``NU_DATABASE_URL`` and starts the KPI recorder (one
``call_records`` row per call), ``Publisher`` stores versions there and writes the live YAML and
a lock in ``NU_VAR_DIR``, live state goes to ``NU_REDIS_URL``. ``config.load()`` defaults all of
these to the city's own (``var/numero-unico.db`` in the repo, Redis 127.0.0.1:6379/0), so a bench
that builds its settings by hand and forgets one of them writes fake calls into the city's
figures (it happened: 1,101 calls from ``fastagi_load.py`` in ``ivr kpi report``).

:func:`isolate`, called first thing in each bench's ``main``, sets for this process and every
process it starts (servers run as children and inherit the environment):

* ``NU_VAR_DIR`` -> ``<tmp>/var``; ``NU_SOUNDS_DIR`` -> ``<tmp>/var/sounds``;
  ``NU_SPEECH_SPOOL_DIR`` -> ``<tmp>/var/speech`` (and no Asterisk-side spool path)
* ``NU_DATABASE_URL`` -> ``sqlite:///<tmp>/var/numero-unico.db``
* ``NU_REDIS_URL`` -> ``""``: live state in memory. A bench that measures Redis starts its own
  ``ivr.devenv.redis.RedisServer`` on a free port with its data under ``<tmp>``.

What a bench only reads is left as configured: the dialplan, the prompt texts, the speech models,
the Asterisk chroot. The folder is removed when the bench exits (:func:`cleanup` for a bench that
leaves through ``os._exit``). A child process finds its parent's folder in ``NU_BENCH_DIR`` and
uses it rather than making its own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from ivr import config

MARKER = "NU_BENCH_DIR"
_owned: list[Path] = []


def isolate(name: str) -> config.Settings:
    """Point every ``NU_*`` place a bench could write at a fresh temporary folder; the settings."""
    inherited = os.environ.get(MARKER, "")
    if inherited and Path(inherited).is_dir():
        home = Path(inherited)  # a bench's own server process: its parent's city
    else:
        home = Path(tempfile.mkdtemp(prefix=f"nu-bench-{name}-"))
        os.environ[MARKER] = str(home)
        if not _owned:
            atexit.register(cleanup)
        _owned.append(home)
    var = home / "var"
    os.environ.update(
        NU_VAR_DIR=str(var),
        NU_DATABASE_URL=f"sqlite:///{var / 'numero-unico.db'}",
        NU_REDIS_URL="",
        NU_SOUNDS_DIR=str(var / "sounds"),
        NU_SPEECH_SPOOL_DIR=str(var / "speech"),
    )
    os.environ.pop("NU_ASTERISK_SPEECH_SPOOL_DIR", None)
    (var / "sounds").mkdir(parents=True, exist_ok=True)
    return config.load()


def cleanup() -> None:
    """Remove the folders :func:`isolate` made in this process (idempotent; runs at exit)."""
    while _owned:
        shutil.rmtree(_owned.pop(), ignore_errors=True)
