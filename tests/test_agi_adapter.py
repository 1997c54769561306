"""CityAGI: one test per pyst2 0.5.1 defect we fix (docs/agi-protocol.md, section 10).

Each test first shows what unmodified pyst2 does on the same wire, then that CityAGI gets it right.
The wire is :class:`ivr.agi.peer.AsteriskPeer` (written to the spec) or canned reply lines.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from asterisk.agi import (
    AGI,
    AGIAppError,
    AGIDBError,
    AGIResultHangup,
    AGISIGHUPHangup,
    AGIUnknownError,
)

from ivr.agi.adapter import (
    AGIDeadChannel,
    AGIEOFHangup,
    AGIHangup,
    CityAGI,
    PlaybackFailed,
    Recording,
    parse_reply,
)
from ivr.agi.peer import AsteriskPeer, ScriptedCaller, drive
from tests.agi_support import canned, peer_on_socket, raw_pyst2, sent

ROOT = Path(__file__).resolve().parent.parent


# -- 1. construction outside the main thread ---------------------------------------------------


def test_constructs_in_a_worker_thread_where_pyst2_cannot():
    errors: list[BaseException] = []

    def build(cls):
        try:
            if cls is AGI:
                cls(stdin=io.StringIO("\n"), stdout=io.StringIO(), stderr=io.StringIO())
            else:
                agi = cls(io.BytesIO(b"agi_uniqueid: 1.1\n\n"), io.BytesIO())
                assert agi.install_sighup_handler() is False  # refused politely, no ValueError
                assert agi.uniqueid == "1.1"
        except BaseException as err:
            errors.append(err)

    for cls in (AGI, CityAGI):
        t = threading.Thread(target=build, args=(cls,))
        t.start()
        t.join(5)
    assert len(errors) == 1 and isinstance(errors[0], ValueError)  # pyst2: signal.signal
    assert "main thread" in str(errors[0])


# -- 2. bytes on sockets ---------------------------------------------------------------------


def test_writes_utf8_bytes_to_binary_sockets():
    # pyst2 given a socket's binary files (what socketserver's StreamRequestHandler offers)
    saved = signal.getsignal(signal.SIGHUP)
    try:
        with peer_on_socket(AsteriskPeer()) as sock:
            rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
            raw = AGI(stdin=rfile, stdout=wfile, stderr=io.StringIO())  # reading bytes works
            with pytest.raises(TypeError):
                raw.answer()  # writing str into a bytes file does not
            rfile.close()
            wfile.close()
    finally:
        signal.signal(signal.SIGHUP, saved)

    def handler(agi: CityAGI) -> str | None:
        agi.set_variable("NU_DEPT_NAME", "Mobilità e trasporti")
        return agi.get_variable("NU_DEPT_NAME")

    record, value = drive(handler)
    assert value == "Mobilità e trasporti"
    assert record.variables["NU_DEPT_NAME"] == "Mobilità e trasporti"


# -- 4. the HANGUP line and EOF ----------------------------------------------------------------


def test_hangup_line_is_skipped_not_read_as_the_next_reply():
    # The caller hangs up while the script works after its 1st command: Asterisk writes HANGUP.
    peer = AsteriskPeer(hangup_at=1)
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        agi.set_variable("A", "1")
        time.sleep(0.05)
        with pytest.raises(ValueError):  # int('') on the HANGUP line
            agi.get_variable("A")
        # Off by one from now on: B is unset, but pyst2 returns the reply meant for A.
        assert agi.get_variable("B") == "1"

    def handler(agi: CityAGI):
        agi.set_variable("A", "1")
        time.sleep(0.05)
        return agi.get_variable("A"), agi.get_variable("B"), agi.hung_up

    record, result = drive(handler, hangup_at=1)
    assert result == ("1", None, True)
    assert record.status == "HANGUP" and record.hangup_lines >= 1


def test_eof_is_a_hangup():
    agi, _ = canned()  # environment, then Asterisk closed
    with pytest.raises(AGIEOFHangup) as info:
        agi.answer()
    assert isinstance(info.value, AGIHangup) and agi.hung_up
    with pytest.raises(AGIEOFHangup):
        CityAGI(io.BytesIO(b"agi_request: x\n"), io.BytesIO())  # EOF inside the environment


def test_pyst2_eof_raises_valueerror():
    saved = signal.getsignal(signal.SIGHUP)
    try:
        env = io.StringIO("agi_uniqueid: 1\n\n")
        agi = AGI(stdin=env, stdout=io.StringIO(), stderr=io.StringIO())
        with pytest.raises(ValueError):  # not a hangup: the same error as the HANGUP line
            agi.answer()
    finally:
        signal.signal(signal.SIGHUP, saved)


# -- 5. 511 and GOSUB's 100 line ---------------------------------------------------------------


def test_511_is_a_dead_channel_hangup():
    peer = AsteriskPeer(dead_at_start=True)  # AGI() run from the h extension
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        with pytest.raises(AGIUnknownError) as info:
            agi.answer()
        assert not isinstance(info.value, AGIHangup)

    def handler(agi: CityAGI):
        with pytest.raises(AGIDeadChannel) as info:
            agi.channel_status()
        assert isinstance(info.value, AGIHangup) and agi.hung_up
        agi.set_variable("CLEANUP", "done")  # still allowed on a dead channel

    record, _ = drive(handler, dead_at_start=True)
    assert record.variables["CLEANUP"] == "done"


def test_gosub_trying_line_is_skipped():
    peer = AsteriskPeer()
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        with pytest.raises(AGIUnknownError):
            agi.execute("GOSUB", "sub", "s", "1")
        # desynchronised: CHANNEL STATUS gets GOSUB's second line (0), not its own (4, ringing)
        assert agi.channel_status() == 0
    assert peer.record.commands == ["GOSUB sub s 1", "CHANNEL STATUS"]

    def handler(agi: CityAGI):
        text = agi.gosub("sub-check", "s", 1, "a b")
        return text, agi.channel_status()

    record, (text, status) = drive(handler)
    assert text == "Gosub complete" and status == 4
    assert record.commands[0] == 'GOSUB "sub-check" "s" "1" "a b"'


# -- 6. result=-1: hangup or failure? ----------------------------------------------------------


def test_minus_one_tells_hangup_from_missing_prompt():
    peer = AsteriskPeer(ScriptedCaller(hangup_during="bye"), missing=["nope"])
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        with pytest.raises(AGIAppError) as missing:
            agi.stream_file("/s/it/nope")
        with pytest.raises(AGIAppError) as hangup:
            agi.stream_file("/s/it/bye")
        assert type(missing.value) is type(hangup.value)  # can't be told apart

    def handler(agi: CityAGI):
        with pytest.raises(PlaybackFailed) as failed:
            agi.stream_file("/s/it/nope")
        assert not isinstance(failed.value, AGIHangup) and not agi.hung_up
        assert failed.value.path == "/s/it/nope"
        with pytest.raises(AGIHangup):
            agi.stream_file("/s/it/bye")
        assert agi.hung_up

    record, _ = drive(handler, ScriptedCaller(hangup_during="bye"), missing=["nope"])
    assert record.status == "HANGUP"
    # the probe that told them apart; no extra command after the hangup
    assert [c.split()[0] for c in record.commands] == ["STREAM", "CHANNEL", "STREAM", "CHANNEL"]


def test_value_hangup_is_not_a_hangup():
    db = {("city", "state"): "hangup"}
    peer = AsteriskPeer(database=dict(db))
    with (
        peer_on_socket(peer) as sock,
        raw_pyst2(sock) as (agi, _),
        pytest.raises(AGIResultHangup),
    ):
        agi.database_get("city", "state")

    record, value = drive(lambda agi: agi.database_get("city", "state"), database=dict(db))
    assert value == "hangup"


# -- 7. after SIGHUP, cleanup commands still go out ------------------------------------------


@pytest.fixture
def sighup_harmless():
    """The fake Asterisk signals this very process: never let SIGHUP's default kill pytest."""
    saved = signal.signal(signal.SIGHUP, lambda *_: None)
    yield
    signal.signal(signal.SIGHUP, saved)


def test_after_sighup_dead_channel_commands_are_still_sent(sighup_harmless):
    # Local AGI: Asterisk sends SIGHUP instead of a HANGUP line (here: to this process).
    def sighup():
        os.kill(os.getpid(), signal.SIGHUP)

    def wait_hup(agi):
        for _ in range(200):
            if getattr(agi, "_got_sighup", False):
                return
            time.sleep(0.01)
        raise AssertionError("no SIGHUP")

    peer = AsteriskPeer(network=False, sighup=sighup, hangup_at=1)
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        agi.noop()
        wait_hup(agi)
        with pytest.raises(AGISIGHUPHangup):
            agi.set_variable("NU_OUTCOME", "hangup")  # refused before it is even sent
    assert not any("NU_OUTCOME" in c for c in peer.record.commands)

    def handler(agi: CityAGI):
        assert agi.install_sighup_handler()
        agi.noop()
        wait_hup(agi)
        agi.set_variable("NU_OUTCOME", "hangup")  # allowed on a dead channel: sent
        with pytest.raises(AGIHangup):
            agi.stream_file("/s/it/welcome")  # not allowed: refused without a round trip

    record, _ = drive(handler, network=False, sighup=sighup, hangup_at=1)
    assert record.variables["NU_OUTCOME"] == "hangup"
    assert not any(c.startswith("STREAM") for c in record.commands)


# -- 8. RECORD FILE --------------------------------------------------------------------------


def test_record_file_reports_kind_and_endpos():
    replies = ["200 result=0 (timeout) endpos=8000", "200 result=16117 (timeout) endpos=12000"]
    saved = signal.getsignal(signal.SIGHUP)
    try:
        raw = AGI(
            stdin=io.StringIO("agi_uniqueid: 1\n\n" + "".join(r + "\n" for r in replies)),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        assert raw.record_file("msg") == "\x00"
        assert raw.record_file("msg") == chr(16117)  # a random CJK character (pyst2 issue #31)
    finally:
        signal.signal(signal.SIGHUP, saved)

    agi, out = canned(
        *replies,
        "200 result=35 (dtmf) endpos=4000",
        "200 result=-1 (writefile)",
        "200 result=-1 (hangup) endpos=2000",
    )
    assert agi.record_file("/rec/msg", "wav", "#", 30000, silence_s=3) == Recording(
        "timeout", None, 8000
    )
    assert agi.record_file("/rec/msg").kind == "timeout"  # 16117 is leftover ms, not a status
    assert agi.record_file("/rec/msg") == Recording("dtmf", "#", 4000)
    with pytest.raises(AGIAppError):
        agi.record_file("/readonly/msg")
    assert agi.record_file("/rec/msg") == Recording("hangup", None, 2000) and agi.hung_up
    assert sent(out)[0] == 'RECORD FILE "/rec/msg" "wav" "#" 30000 BEEP s=3'


def test_record_file_over_the_peer():
    record, results = drive(
        lambda agi: [agi.record_file("/rec/a", timeout_ms=5000) for _ in range(3)],
        ScriptedCaller(["#", "", "h"]),
    )
    assert [r.kind for r in results] == ["dtmf", "timeout", "hangup"]
    assert results[0].digit == "#" and results[0].endpos == 16000
    assert record.recordings == ["/rec/a"] * 3


# -- 9. DATABASE DELTREE ---------------------------------------------------------------------


def test_database_deltree_success_is_not_an_error():
    db = {("callers", "a"): "1"}
    peer = AsteriskPeer(database=dict(db))
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _), pytest.raises(AGIDBError):
        agi.database_deltree("callers")  # it *did* delete
    assert peer.database == {}

    def handler(agi: CityAGI):
        return agi.database_deltree("callers"), agi.database_deltree("callers")

    record, result = drive(handler, database=dict(db))
    assert result == (True, False)


# -- 10. quoting -----------------------------------------------------------------------------


def test_values_are_quoted_and_escaped():
    value = 'say "hi" C:\\tmp'
    peer = AsteriskPeer()
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        agi.set_variable("V", value)
        agi.exec_command("Set", "W=a b")
        agi.set_callerid("Comune Esempio <020202>")
    assert peer.record.variables["V"] == "say hi C:tmp"
    assert peer.record.variables["W"] == "a"
    assert peer.record.variables["CALLERID(all)"] == "Comune"

    def handler(agi: CityAGI):
        agi.set_variable("V", value)
        assert agi.exec_app("Set", "W=a b") == 0
        agi.set_callerid("Comune Esempio <020202>")
        agi.set_variable("NL", "two\nlines")  # a line break would inject a command
        return agi.get_variable("V")

    record, got = drive(handler)
    assert got == value == record.variables["V"]
    assert record.variables["W"] == "a b"
    assert record.variables["CALLERID(all)"] == "Comune Esempio <020202>"
    assert record.variables["NL"] == "two lines"
    assert all("510" not in c for c in record.commands)


def test_exec_unknown_application_raises():
    record, _ = drive(lambda agi: pytest.raises(AGIAppError, agi.exec_app, "NoSuchApp"))
    assert record.commands == ["EXEC NoSuchApp"]


# -- 11. GET DATA timeout flag, unset vs empty variables ---------------------------------------


def test_get_data_reports_timeout_and_hash_first():
    caller = ScriptedCaller(["", "#", "12", "123"])
    peer = AsteriskPeer(caller)
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        assert agi.get_data("/s/it/menu", 3000, 3) == ""  # timeout
        assert agi.get_data("/s/it/menu", 3000, 3) == ""  # '#' pressed first: the same ''

    def handler(agi: CityAGI):
        return [agi.get_data("/s/it/menu", 3000, 3) for _ in range(4)]

    record, results = drive(handler, ScriptedCaller(["", "#", "12", "123"]))
    assert results == [("", True), ("", False), ("12", True), ("123", False)]


def test_get_variable_tells_unset_from_empty():
    peer = AsteriskPeer()
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, _):
        agi.set_variable("EMPTY", "")
        assert agi.get_variable("EMPTY") == agi.get_variable("UNSET") == ""

    def handler(agi: CityAGI):
        agi.set_variable("EMPTY", "")
        return agi.get_variable("EMPTY"), agi.get_variable("UNSET")

    assert drive(handler)[1] == ("", None)


# -- 12. no stderr chatter; logs with the call id and no caller number --------------------------


def test_no_stderr_chatter_and_masked_call_logs(capfd, caplog):
    peer = AsteriskPeer()
    with peer_on_socket(peer) as sock, raw_pyst2(sock) as (agi, stderr):
        agi.answer()
    assert "ENV LINE" in stderr.getvalue() and "3331234567" in stderr.getvalue()

    caplog.set_level(logging.DEBUG, logger="ivr")
    env = {"agi_uniqueid": "1700000000.7", "agi_callerid": "3331234567"}
    drive(lambda agi: (agi.answer(), agi.get_variable("CALLERID(num)")), env=env)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    text = caplog.text
    assert "[1700000000.7] -> ANSWER" in text
    assert "3331234567" not in text and "********67" in text


def test_local_agi_stray_prints_do_not_reach_asterisk():
    code = (
        "import sys\n"
        "from ivr.agi.local import serve_local\n"
        "def handler(agi):\n"
        "    print('debug: stray print')\n"
        "    agi.answer()\n"
        "    agi.set_variable('NU_QUEUE', 'anagrafe')\n"
        "sys.exit(serve_local(handler))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    peer = AsteriskPeer(network=False, sighup=lambda: proc.send_signal(signal.SIGHUP))
    record = peer.run(proc.stdout, proc.stdin)  # type: ignore[arg-type]
    proc.stdin.close()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    proc.wait(20)
    assert proc.returncode == 0, err
    assert record.commands == ["ANSWER", 'SET VARIABLE "NU_QUEUE" "anagrafe"']
    assert b"stray print" in err


# -- reply parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, result, data, fields, text",
    [
        (
            "200 result=1 (value with spaces (parens) x=1)",
            "1",
            "value with spaces (parens) x=1",
            {},
            "",
        ),
        ("200 result= (timeout)", "", "timeout", {}, ""),
        ("200 result=", "", None, {}, ""),
        ("200 result=1 ()", "1", "", {}, ""),
        ("200 result=-1 (hangup) endpos=1234", "-1", "hangup", {"endpos": "1234"}, ""),
        ("200 result=49 endpos=8000", "49", None, {"endpos": "8000"}, ""),
        ("200 result=0 Gosub complete", "0", None, {}, "Gosub complete"),
    ],
)
def test_parse_reply(line, result, data, fields, text):
    reply = parse_reply(line)
    assert (reply.code, reply.result, reply.data, reply.fields, reply.text) == (
        200,
        result,
        data,
        fields,
        text,
    )


def test_exit_on_hangup_two_hangup_lines_then_eof():
    # AGIEXITONHANGUP=yes: Asterisk stops reading after the hangup; the probe meets EOF.
    def handler(agi: CityAGI):
        with pytest.raises(AGIHangup):
            agi.get_data("/s/it/menu", 3000, 1)
        with pytest.raises(AGIHangup):
            agi.set_variable("NU_OUTCOME", "late")  # nobody is listening any more
        return agi.hung_up

    record, hung_up = drive(handler, ScriptedCaller(["h"]), agiexitonhangup=True)
    assert hung_up and "NU_OUTCOME" not in record.variables
