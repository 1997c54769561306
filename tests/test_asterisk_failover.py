"""Asterisk's own fallback: when the FastAGI service dies mid-call, the caller still gets a human.

``ivr serve`` runs as a real process here and is killed with SIGKILL while the caller is in the
main menu; Asterisk's dialplan must apologise and queue the caller for the general operator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ivr import config
from ivr.devenv.redis import port_answers

pytestmark = pytest.mark.asterisk


def test_fastagi_service_killed_mid_call_sends_caller_to_operator(asterisk):
    """``ivr serve`` as a real process, killed while the caller is in the main menu."""
    settings = asterisk.settings
    env = {
        **os.environ,
        "NU_AGI_HOST": settings.agi_host,
        "NU_AGI_PORT": str(settings.agi_port),
        "NU_ASTERISK_SOUNDS_DIR": settings.asterisk_sounds_dir,
        "NU_REDIS_URL": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve"],
        env=env,
        cwd=config.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60  # a process start on a busy machine
        while not port_answers(settings.agi_host, settings.agi_port):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "ivr serve did not start"
            time.sleep(0.1)
        asterisk.add_operator("operatore")
        call = asterisk.place_call([("choose_language", "1")])
        call.wait_played("main_menu", timeout=15)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert call.wait_operator(timeout=15)["Queue"] == "operatore"
        assert "service_unavailable" in [p.name for p in call.played()]
        call.hangup()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
