"""The fake Asterisk answers byte for byte like docs/agi-protocol.md says the real one does."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ivr.agi.peer import ENV_KEYS, AsteriskPeer, ScriptedCaller, parse_args
from tests.agi_support import peer_on_socket


class Wire:
    """The script's end of the socket, spoken in raw bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile = sock.makefile("rb")

    def line(self) -> str | None:
        raw = self.rfile.readline()
        return raw.decode() if raw else None

    def env(self) -> list[str]:
        lines = []
        while (line := self.line()) not in ("\n", None):
            lines.append(line)
        return lines

    def cmd(self, text: str, replies: int = 1) -> list[str]:
        self.sock.sendall(text.encode() + b"\n")
        return [self.line() for _ in range(replies)]  # type: ignore[misc]

    def end(self) -> list[str | None]:
        """Half-close like a finished script, then read what Asterisk still sends."""
        self.sock.shutdown(socket.SHUT_WR)
        rest = []
        while (line := self.line()) is not None:
            rest.append(line)
        return rest


@contextmanager
def session(peer: AsteriskPeer) -> Iterator[Wire]:
    """The peer in a thread; yields the wire with the start-up block already read."""
    with peer_on_socket(peer) as sock:
        wire = Wire(sock)
        wire.env()
        try:
            yield wire
        finally:
            wire.rfile.close()


def test_startup_block_in_order():
    peer = AsteriskPeer(network_script="ivr/main?lang=en", args=["a", ""])
    with peer_on_socket(peer) as sock:
        wire = Wire(sock)
        lines = wire.env()
    assert lines[:2] == ["agi_network: yes\n", "agi_network_script: ivr/main?lang=en\n"]
    assert [line.split(":")[0] for line in lines[2:22]] == list(ENV_KEYS)
    assert "agi_accountcode: \n" in lines  # empty value keeps its trailing space
    assert lines[22:] == ["agi_arg_1: a\n", "agi_arg_2: \n"]
    assert all(not line.endswith("\r\n") for line in lines)


def test_network_lines_only_for_fastagi():
    with peer_on_socket(AsteriskPeer()) as sock:
        lines = Wire(sock).env()
    assert lines[0] == "agi_network: yes\n" and lines[1].startswith("agi_request: ")
    with peer_on_socket(AsteriskPeer(network=False)) as sock:
        lines = Wire(sock).env()
    assert lines[0] == "agi_request: ivr-agi\n" and len(lines) == 20


def test_error_texts_exact():
    with session(AsteriskPeer()) as wire:
        assert wire.cmd("FOO") == ["510 Invalid or unknown command\n"]
        assert wire.cmd("GET") == ["510 Invalid or unknown command\n"]
        assert wire.cmd("ANSWER\r") == ["510 Invalid or unknown command\n"]  # \r stays in the word
        assert wire.cmd("answer") == ["200 result=0\n"]  # case-insensitive
        assert wire.cmd("WAIT FOR DIGIT", 3) == [
            "520-Invalid command syntax.  Proper usage follows:\n",
            "Usage: WAIT FOR DIGIT <timeout>\n",
            "520 End of proper usage.\n",
        ]
        assert wire.cmd('SAY DIGITS abc ""', 3)[0].startswith("520-")


@pytest.mark.parametrize(
    "line, words",
    [
        ('SET VARIABLE X ""', ["SET", "VARIABLE", "X", ""]),
        ('SET VARIABLE "X" "say \\"hi\\" C:\\\\tmp"', ["SET", "VARIABLE", "X", 'say "hi" C:\\tmp']),
        ('a"b c"d  e\tf', ["ab cd", "e", "f"]),
        ("x\\ y", ["x y"]),
        ("  NOOP  ", ["NOOP"]),
    ],
)
def test_parse_args_like_res_agi(line, words):
    assert parse_args(line) == words


def test_stream_file_results():
    caller = ScriptedCaller(["^2", "^5"])
    with session(AsteriskPeer(caller, missing=["gone"])) as wire:
        assert wire.cmd('STREAM FILE /s/it/welcome ""') == ["200 result=0 endpos=16000\n"]
        assert wire.cmd('STREAM FILE /s/it/menu "12"') == ["200 result=50 endpos=8000\n"]
        # 5 is not an escape digit: ignored, the prompt plays to the end
        assert wire.cmd('STREAM FILE /s/it/menu "12"') == ["200 result=0 endpos=16000\n"]
        assert wire.cmd('STREAM FILE /s/it/gone ""') == ["200 result=-1 endpos=0\n"]
        assert wire.cmd('STREAM FILE /s/it/gone "" 400') == ["200 result=-1 endpos=400\n"]
        assert wire.cmd("GET VARIABLE PLAYBACKSTATUS") == ["200 result=1 (SUCCESS)\n"]
        assert wire.end() == ["HANGUP\n"]
    assert caller.heard == ["/s/it/welcome", "/s/it/menu", "/s/it/menu"]


def test_stream_file_missing_marks_failure_but_session_goes_on():
    peer = AsteriskPeer(missing=["gone"])
    with session(peer) as wire:
        wire.cmd('STREAM FILE /s/it/gone ""')
        assert wire.cmd("NOOP") == ["200 result=0\n"]
    assert peer.record.status == "FAILURE"


def test_get_data_forms():
    caller = ScriptedCaller(["", "#", "12", "123", "9"], when_done="")
    with session(AsteriskPeer(caller, missing=["gone"])) as wire:
        assert wire.cmd("GET DATA /s/it/menu 3000 3") == ["200 result= (timeout)\n"]
        assert wire.cmd("GET DATA /s/it/menu 3000 3") == ["200 result=\n"]
        assert wire.cmd("GET DATA /s/it/menu 3000 3") == ["200 result=12 (timeout)\n"]
        assert wire.cmd("GET DATA /s/it/menu 3000 3") == ["200 result=123\n"]
        assert wire.cmd('GET DATA "" 3000 1') == ["200 result=9\n"]
        assert wire.cmd("GET DATA /s/it/gone 3000 1") == ["200 result=-1\n"]
        assert wire.cmd("GET DATA") == ["520-Invalid command syntax.  Proper usage follows:\n"]


def test_get_data_barge_in_counts_as_first_digit():
    with session(AsteriskPeer(ScriptedCaller(["^34"]))) as wire:
        assert wire.cmd("GET DATA /s/it/code 3000 2") == ["200 result=34\n"]


def test_variables_unset_empty_and_raw():
    with session(AsteriskPeer()) as wire:
        assert wire.cmd('SET VARIABLE E ""') == ["200 result=1\n"]
        assert wire.cmd("GET VARIABLE E") == ["200 result=1 ()\n"]
        assert wire.cmd("GET VARIABLE NOPE") == ["200 result=0\n"]
        wire.cmd('SET VARIABLE V "a (b) c=1"')
        assert wire.cmd("GET VARIABLE V") == ["200 result=1 (a (b) c=1)\n"]
        wire.cmd("SET VARIABLE CHANNEL(language) en")
        assert wire.cmd("GET VARIABLE CHANNEL(language)") == ["200 result=1 (en)\n"]
        assert wire.cmd("SET VARIABLE X") == [
            "520-Invalid command syntax.  Proper usage follows:\n"
        ]


def test_channel_status_wait_for_digit_say():
    caller = ScriptedCaller(["7", "", "^1"])
    with session(AsteriskPeer(caller)) as wire:
        assert wire.cmd("CHANNEL STATUS") == ["200 result=4\n"]
        wire.cmd("ANSWER")
        assert wire.cmd("CHANNEL STATUS") == ["200 result=6\n"]
        assert wire.cmd("CHANNEL STATUS PJSIP/other-1") == ["200 result=-1\n"]
        assert wire.cmd("WAIT FOR DIGIT 5000") == ["200 result=55\n"]
        assert wire.cmd("WAIT FOR DIGIT 5000") == ["200 result=0\n"]
        assert wire.cmd('SAY DIGITS 123 "1"') == ["200 result=49\n"]
        assert wire.cmd('SAY NUMBER 42 ""') == ["200 result=0\n"]


def test_gosub_sends_two_lines():
    with session(AsteriskPeer()) as wire:
        assert wire.cmd("GOSUB sub s 1", 2) == [
            "100 result=0 Trying...\n",
            "200 result=0 Gosub complete\n",
        ]


def test_database_and_deltree_inverted():
    peer = AsteriskPeer()
    with session(peer) as wire:
        assert wire.cmd("DATABASE PUT city mode/night 1") == ["200 result=1\n"]
        assert wire.cmd("DATABASE GET city mode/night") == ["200 result=1 (1)\n"]
        assert wire.cmd("DATABASE DEL city nope") == ["200 result=0\n"]
        assert wire.cmd("DATABASE DELTREE city mode") == ["200 result=0\n"]  # deleted
        assert wire.cmd("DATABASE DELTREE city mode") == ["200 result=1\n"]  # nothing to delete
        assert wire.cmd("DATABASE GET city mode/night") == ["200 result=0\n"]


def test_exec_results():
    with session(AsteriskPeer()) as wire:
        assert wire.cmd("EXEC Set X=1") == ["200 result=0\n"]
        assert wire.cmd("EXEC NoSuchApp") == ["200 result=-2\n"]
        assert wire.cmd("EXEC Playback /s/it/welcome") == ["200 result=0\n"]
        assert wire.cmd("GET VARIABLE X") == ["200 result=1 (1)\n"]


# -- the hangup sequence -------------------------------------------------------------------


def test_hangup_sequence_default():
    peer = AsteriskPeer(ScriptedCaller(hangup_during="bye"))
    with session(peer) as wire:
        assert wire.cmd('STREAM FILE /s/it/bye ""') == ["200 result=-1 endpos=8000\n"]
        assert wire.line() == "HANGUP\n"  # unsolicited, straight away
        assert wire.cmd("CHANNEL STATUS") == [
            "511 Command Not Permitted on a dead channel or intercept routine\n"
        ]
        assert wire.cmd("SET VARIABLE NU_OUTCOME hangup") == ["200 result=1\n"]  # dead-allowed
        assert wire.cmd("ANSWER") == [
            "511 Command Not Permitted on a dead channel or intercept routine\n"
        ]
        assert wire.end() == ["HANGUP\n"]  # the final one, then close
    assert peer.record.status == "HANGUP" and peer.record.hung_up == "caller"
    assert peer.record.variables["NU_OUTCOME"] == "hangup"


def test_hangup_with_agisighup_off_sends_no_hangup_lines():
    peer = AsteriskPeer(ScriptedCaller(hangup_during="bye"), agisighup=False)
    with session(peer) as wire:
        assert wire.cmd('STREAM FILE /s/it/bye ""') == ["200 result=-1 endpos=8000\n"]
        assert wire.cmd("CHANNEL STATUS")[0].startswith("511 ")
        assert wire.end() == []
    assert peer.record.hangup_lines == 0


def test_hangup_with_exit_on_hangup_closes_after_two_hangup_lines():
    peer = AsteriskPeer(ScriptedCaller(["h"]), agiexitonhangup=True)
    with session(peer) as wire:
        assert wire.cmd("GET DATA /s/it/menu 3000 1") == ["200 result=-1\n"]
        assert [wire.line(), wire.line(), wire.line()] == ["HANGUP\n", "HANGUP\n", None]


def test_idle_hangup_after_a_command():
    peer = AsteriskPeer(hangup_at=2)
    with session(peer) as wire:
        assert wire.cmd("ANSWER") == ["200 result=0\n"]
        assert wire.cmd("SET VARIABLE A 1") == ["200 result=1\n"]
        assert wire.line() == "HANGUP\n"
        assert wire.cmd('STREAM FILE x ""')[0].startswith("511 ")


def test_own_hangup_command_then_hangup_line():
    peer = AsteriskPeer()
    with session(peer) as wire:
        assert wire.cmd("HANGUP") == ["200 result=1\n"]
        assert wire.line() == "HANGUP\n"
        assert wire.cmd("ANSWER")[0].startswith("511 ")
        assert wire.end() == ["HANGUP\n"]
    assert peer.record.hung_up == "script"


def test_normal_end_still_gets_a_final_hangup_line():
    peer = AsteriskPeer()
    with session(peer) as wire:
        wire.cmd("ANSWER")
        assert wire.end() == ["HANGUP\n"]
    assert peer.record.status == "SUCCESS" and peer.record.closed_by_script
    assert len(peer.record.latencies) == 1


def test_dead_at_start_sends_no_hangup_line_first():
    with session(AsteriskPeer(dead_at_start=True)) as wire:
        assert wire.cmd("ANSWER")[0].startswith("511 ")
        assert wire.cmd("NOOP") == ["200 result=0\n"]
        assert wire.end() == ["HANGUP\n"]


def test_failure_line_ends_the_session():
    peer = AsteriskPeer()
    with session(peer) as wire:
        wire.sock.sendall(b"failure: cannot exec\n")
        assert wire.line() == "HANGUP\n" and wire.line() is None
    assert peer.record.status == "FAILURE"


def test_uniqueids_of_calls_from_separate_processes_differ_within_one_second() -> None:
    """Each ``ivr call`` is its own process: two console calls placed in the same second got the
    same ``<seconds>.1`` id, and their call records were merged into one row."""
    import subprocess
    import sys

    code = "from ivr.agi.peer import AsteriskPeer; print(AsteriskPeer().record.env['agi_uniqueid'])"
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    ids = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert len(set(ids)) == 3, ids
    assert all(re.fullmatch(r"\d+\.\d+", uid) for uid in ids), ids  # Asterisk's form
