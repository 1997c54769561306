"""The real Asterisk 22 harness, proven with a minimal FastAGI peer written here.

The peer answers like a script would: read the environment block, send a few commands, close.
Everything else (dialplan, queues, fallbacks, the AMI client) is the product's, on a real
Asterisk in the sid chroot (``asterisk`` fixture, tests/conftest.py).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable

import pytest

from ivr.asterisk.ami import AMIClient, AMIError
from tests.asterisk_harness import asks

pytestmark = pytest.mark.asterisk


class FastAGIPeer:
    """A few lines of socket code playing the FastAGI service for one or more calls.

    ``script(env, send)`` runs per connection: ``env`` is the start-up block as a dict, ``send``
    writes one command and returns Asterisk's reply line.
    """

    def __init__(self, port: int, script: Callable[[dict, Callable[[str], str]], None]):
        self.script = script
        self.envs: list[dict[str, str]] = []
        self.replies: list[str] = []
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as wire:
            env = {}
            for raw in wire:
                line = raw.decode().rstrip("\n")
                if not line:
                    break
                key, _, value = line.partition(": ")
                env[key] = value
            self.envs.append(env)

            def send(command: str) -> str:
                wire.write(command.encode() + b"\n")
                wire.flush()
                reply = wire.readline().decode().rstrip("\n")
                while reply == "HANGUP":  # unsolicited: the caller hung up
                    self.replies.append(reply)
                    reply = wire.readline().decode().rstrip("\n")
                self.replies.append(reply)
                return reply

            self.script(env, send)

    def close(self) -> None:
        self.stopping = True
        self.thread.join(2)
        self.server.close()


@pytest.fixture
def fastagi(asterisk):
    """Start a peer on the test Asterisk's FastAGI port: ``fastagi(script)``."""
    peers = []

    def start(script):
        peer = FastAGIPeer(asterisk.agi_port, script)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.close()


def route(**variables: str):
    """A peer script that sets channel variables, then closes (as the engine does)."""

    def script(env, send):
        for name, value in variables.items():
            assert send(f"SET VARIABLE {name} {value}") == "200 result=1"

    return script


# ---------------------------------------------------------------------------------------------
# Asterisk itself


def test_asterisk_starts_with_no_load_errors(asterisk):
    log = asterisk.log_text()
    assert "Asterisk Ready." in log
    startup = log[: log.index("Asterisk Ready.")]
    problems = [line for line in startup.splitlines() if re.search(r"\] (ERROR|WARNING)\[", line)]
    assert problems == []
    modules = asterisk.ami.command("module show")
    for module in ("app_queue.so", "res_agi.so", "chan_pjsip.so", "pbx_config.so"):
        assert re.search(rf"^{re.escape(module)}\s.*Running", modules, re.M), module
    assert "Not Running" not in modules


def test_dialplan_and_queues_are_rendered_for_the_city(asterisk):
    number = asterisk.number
    assert f"'{number}' =>" in asterisk.ami.command("dialplan show from-pstn")
    queues = asterisk.ami.command("queue show")
    for dept in asterisk.dialplan.departments.values():
        assert f"{dept.queue} has 0 calls" in queues
    endpoints = asterisk.ami.command("pjsip show endpoints")
    assert "local-pstn" in endpoints  # operators: only accounts (test_asterisk_operators.py)
    assert not re.search(r"Endpoint:\s+10[12]\b", endpoints)  # no shared example account
    # The transport is bound to loopback only, on the instance's own port.
    transports = asterisk.ami.command("pjsip show transports")
    assert f"127.0.0.1:{asterisk.instance.sip_port}" in transports


# ---------------------------------------------------------------------------------------------
# Calls through the dialplan


def test_fastagi_route_reaches_that_queue_and_an_operator(asterisk, fastagi):
    operator = asterisk.add_operator("tributi")
    peer = fastagi(route(NU_LANG="en", NU_QUEUE="tributi", NU_PATH="lingua>principale"))
    call = asterisk.place_call(caller_id="3398765432")

    assert call.wait_queue() == "tributi"
    assert call.wait_queue_join() == "tributi"
    answered = call.wait_operator()
    assert answered["Queue"] == "tributi_en"  # an English caller: the queue's English twin
    assert answered["MemberName"] == operator.name
    # The operator's channel carries the caller's context (inherited, in AMI channelvars).
    assert answered["DestChannel"].startswith(operator.interface.removesuffix("/n"))
    assert "NU_LANG=en" in answered.get_all("DestChanVariable")
    assert "NU_PATH=lingua>principale" in answered.get_all("DestChanVariable")
    assert call.variable("CHANNEL(language)") == "en"
    assert call.variable("CALLERID(name)").startswith("Tributi EN")
    # FastAGI saw the call as Asterisk describes it.
    env = peer.envs[0]
    assert env["agi_network"] == "yes"
    assert env["agi_callerid"] == "3398765432"
    assert env["agi_context"] == "nu-ivr"
    assert call.queues() == ["tributi"]
    assert not [p for p in call.played() if p.name == "service_unavailable"]


def test_without_fastagi_the_caller_hears_the_apology_and_reaches_the_operator(asterisk):
    # Nothing listens on the FastAGI port: AGI() fails at once (connection refused).
    call = asterisk.place_call()

    played = call.wait_played("service_unavailable")
    sounds = asterisk.settings.asterisk_sounds_dir
    assert played.file.startswith(f"{sounds}/it/service_unavailable")
    assert played.language == "it"
    assert call.wait_queue_join() == asterisk.general_queue
    assert call.queues() == [asterisk.general_queue]
    assert call.variable("NU_REASON") == "ivr_unavailable"


def test_engine_language_is_used_for_the_apology_when_it_gives_no_route(asterisk, fastagi):
    fastagi(route(NU_LANG="en"))  # a clean end, but no NU_QUEUE: no route
    call = asterisk.place_call()

    played = call.wait_played("service_unavailable")
    assert played.prompt == "en/service_unavailable"
    assert call.wait_queue_join() == asterisk.general_queue


@pytest.mark.parametrize(
    "queue", ["nonexistent", "Tributi", "tributi,1", "tributi)", "../x", "${NU_SOUNDS}"]
)
def test_unknown_or_malformed_queue_goes_to_the_general_operator(asterisk, fastagi, queue):
    fastagi(route(NU_QUEUE=f'"{queue}"', NU_LANG='"it,en"'))
    call = asterisk.place_call()

    assert call.wait_queue_join() == asterisk.general_queue
    assert call.queues() == [asterisk.general_queue]
    assert call.wait_played("service_unavailable").language == "it"


def test_engine_goodbye_hangs_up_without_an_operator(asterisk, fastagi):
    fastagi(route(NU_HANGUP="yes"))
    call = asterisk.place_call()

    assert call.wait_hangup() == "16"
    assert call.queues() == []


def test_unanswered_department_overflows_to_the_general_operator(asterisk, fastagi):
    asterisk.set_global("NU_QUEUE_TIMEOUT", "1")
    fastagi(route(NU_QUEUE="anagrafe", NU_DEPARTMENT="anagrafe"))
    call = asterisk.place_call()

    assert call.wait_queue_join("anagrafe") == "anagrafe"  # waits although nobody is logged in
    assert call.wait_queue_result("anagrafe") == "TIMEOUT"
    assert call.wait_queue_join(asterisk.general_queue) == asterisk.general_queue
    assert call.queues() == ["anagrafe", asterisk.general_queue]
    assert call.variable("NU_REASON") == "overflow"
    assert call.variable("NU_DEPARTMENT") == "anagrafe"  # where the caller wanted to go


def test_ringing_department_times_out_then_the_operator_answers(asterisk, fastagi):
    asterisk.set_global("NU_QUEUE_TIMEOUT", "2")
    asterisk.add_operator("polizia", answers=False)
    operator = asterisk.add_operator(asterisk.general_queue)
    fastagi(route(NU_QUEUE="polizia"))
    call = asterisk.place_call()

    assert call.wait_queue_join("polizia") == "polizia"
    assert call.wait_queue_result("polizia", timeout=10) == "TIMEOUT"
    assert call.wait_operator(timeout=10)["MemberName"] == operator.name


def test_no_operator_anywhere_gets_a_polite_message_then_hangup(asterisk, fastagi):
    asterisk.set_global("NU_GENERAL_TIMEOUT", "1")
    fastagi(route(NU_QUEUE=asterisk.general_queue, NU_LANG="en"))
    call = asterisk.place_call()

    assert call.wait_no_operator()["Status"] == "TIMEOUT"
    assert call.wait_hangup() == "34"
    assert call.queues() == [asterisk.general_queue]
    heard = [p.name for p in call.played() if not p.name.startswith("queue-")]
    assert heard == ["im-sorry", "all-circuits-busy-now", "please-try-call-later", "goodbye"]
    assert all(p.language == "en" for p in call.played())


def test_operator_transfer_code_puts_the_caller_in_that_department(asterisk):
    asterisk.add_operator("anagrafe", answers=False)
    call = asterisk.place_call(number="801", context="from-operators")

    assert call.wait_queue_join() == "anagrafe"
    assert call.variable("NU_REASON") == "transfer"


# ---------------------------------------------------------------------------------------------
# The caller side of place_call: keys at given times, hang-up at a given time


def test_scripted_keys_reach_the_fastagi_script(asterisk, fastagi):
    """Timed steps: pressed in order, never before their time (load may only delay them)."""
    digits: list[tuple[float, str]] = []

    def script(env, send):
        for _ in range(3):
            reply = send("WAIT FOR DIGIT 5000")
            digits.append((time.monotonic(), chr(int(reply.split("=")[1]))))
        send("SET VARIABLE NU_HANGUP yes")

    fastagi(script)
    placed = time.monotonic()
    call = asterisk.place_call([(0.5, "1"), (1.5, "2#")])

    assert call.wait_hangup() == "16"
    assert [d for _, d in digits] == ["1", "2", "#"]
    assert digits[0][0] - placed >= 0.5
    assert digits[1][0] - placed >= 1.5


def test_prompt_steps_answer_each_question_when_it_is_asked(asterisk, fastagi):
    """Prompt steps: each key is pressed when the IVR plays that prompt, however late it
    comes, and a prompt that merely contains the name (``main_menu_extra``) is not it."""
    sounds = asterisk.settings.asterisk_sounds_dir
    answers: list[str] = []

    def script(env, send):
        time.sleep(2.0)  # a slow IVR: nothing may be pressed before it asks
        for prompt in ("main_menu", "registry_booking_menu"):
            reply = send(f"GET DATA {sounds}/it/{prompt} 10000 3")
            answers.append(reply.split("=")[1].split()[0])
        send("SET VARIABLE NU_HANGUP yes")

    fastagi(script)
    call = asterisk.place_call([("main_menu", "4"), ("registry_booking_menu", "12#")])

    assert call.wait_hangup(timeout=30) == "16"
    assert answers == ["4", "12"]
    assert call.pressed == ["main_menu", "registry_booking_menu"]
    assert asks(f"GET DATA {sounds}/it/main_menu 5000 1", "main_menu")
    assert asks(f'STREAM FILE "{sounds}/it/main_menu" "0123"', "main_menu")
    assert not asks(f"GET DATA {sounds}/it/main_menu_extra 5000 1", "main_menu")


def test_caller_hangs_up_at_the_given_time(asterisk, fastagi):
    replies: list[str] = []

    def script(env, send):
        replies.append(send("WAIT FOR DIGIT 10000"))

    fastagi(script)
    started = time.monotonic()
    call = asterisk.place_call(hangup_after=1.0)

    call.wait_hangup(timeout=8)
    assert 0.8 < time.monotonic() - started < 5
    deadline = time.monotonic() + 3
    while not replies and time.monotonic() < deadline:
        time.sleep(0.05)
    assert replies == ["200 result=-1"]
    assert call.queues() == []


# ---------------------------------------------------------------------------------------------
# The AMI client against the real Asterisk


def _client(asterisk, **kw) -> AMIClient:
    creds = asterisk.instance.credentials()
    return AMIClient("127.0.0.1", asterisk.instance.ami_port, creds.username, creds.secret, **kw)


def test_ami_command_keeps_every_output_line(asterisk):
    output = asterisk.ami.command("core show help queue")
    assert len(output.splitlines()) > 3
    assert "queue show" in output and "queue add member" in output


def test_ami_event_list_responses_are_collected(asterisk):
    asterisk.add_operator("rifiuti", answers=False, name="501")
    response = asterisk.ami.action("QueueStatus", Queue="rifiuti")
    names = [e.name for e in response.events]
    assert names[0] == "QueueParams" and names[-1] == "QueueStatusComplete"
    assert asterisk.queue_members("rifiuti") == ["Local/r501@nu-test-operator/n"]


def test_ami_actions_from_many_threads_get_their_own_answers(asterisk):
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        asterisk.ami.action("Setvar", Variable=f"NU_T{i}", Value=str(i))
        results[i] = asterisk.ami.action("Getvar", Variable=f"NU_T{i}")["Value"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {i: str(i) for i in range(20)}


def test_ami_wait_for_sees_an_event_that_came_before_the_wait(asterisk):
    mark = asterisk.ami.event_mark()
    asterisk.ami.action("UserEvent", {"Probe": "1"}, UserEvent="NuPing")
    time.sleep(0.3)
    event = asterisk.ami.wait_for(Event="UserEvent", UserEvent="NuPing", since=mark, timeout=2)
    assert event["Probe"] == "1"
    with pytest.raises(TimeoutError):
        asterisk.ami.wait_for(Event="UserEvent", UserEvent="NuPing", timeout=0.3)


def test_ami_errors_login_failure_and_reconnect(asterisk):
    with pytest.raises(AMIError) as failed:
        asterisk.ami.action("QueueAdd", Queue="no_such_queue", Interface="Local/1@x")
    assert failed.value.response is not None and not failed.value.response.ok
    assert not asterisk.ami.action("QueueAdd", Queue="nope", Interface="L/1", check=False).ok

    bad = _client(asterisk)
    bad.secret = "wrong-secret"
    with pytest.raises(AMIError):
        bad.connect()
    assert not bad.connected

    client = _client(asterisk).connect()
    assert client.ping()
    client.close()
    assert not client.connected
    client.connect()  # the same client logs in again
    assert client.ping()
    client.close()

    with pytest.raises(ValueError):
        asterisk.ami.action("UserEvent", UserEvent="X", Probe="1\r\nAction: Logoff")


# ---------------------------------------------------------------------------------------------
# A second instance beside the session one: hostile names render into a config Asterisk loads


def test_second_instance_with_hostile_names_loads_cleanly(asterisk, asterisk_dialplan, tmp_path):
    import dataclasses

    from ivr.devenv.asterisk import AsteriskInstance, _pids_where, free_port

    evil = "Anagrafe\n[evil]\nexten => _X.,1,System(touch /tmp/pwned); ${SHELL(id)}"
    dept = dataclasses.replace(asterisk_dialplan.departments["anagrafe"], names={"it": evil})
    dialplan = dataclasses.replace(
        asterisk_dialplan, departments={**asterisk_dialplan.departments, "anagrafe": dept}
    )
    name = f"hostile-{asterisk.instance.name}"
    settings = dataclasses.replace(
        asterisk.settings,
        sounds_dir=tmp_path / "none",
        asterisk_sounds_dir=f"/srv/nu/{name}/sounds",
    )
    other = AsteriskInstance(
        name,
        settings=settings,
        ami_port=free_port(),
        sip_port=free_port(socket.SOCK_DGRAM),
    )
    other.render(dialplan)
    try:
        with other:
            assert "There is no existence of 'evil' context" in other.cli("dialplan show evil")
            queue = other.cli("dialplan show anagrafe@nu-queue")
            assert "Set(NU_QUEUE_LABEL=Anagrafe evil exten X. 1 Sy" in queue  # one line
            assert "SHELL" not in queue
            # The session instance is untouched and still answers.
            assert asterisk.ami.ping()
        assert not other.running
        conf = f"{other.inner_dir}/etc/asterisk.conf".encode()
        assert _pids_where(lambda cmdline: conf in cmdline) == []  # nothing left running
    finally:
        import shutil

        shutil.rmtree(other.host_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The harness with the real FastAGI service: keys through the example city's menus


def test_real_service_keypad_route_to_local_taxes(asterisk, ivr_service):
    from datetime import datetime

    ivr_service(clock=lambda tz: datetime(2026, 11, 23, 10, 0, tzinfo=tz))  # Monday, 10:00
    operator = asterisk.add_operator("tributi")
    # Italian, then local taxes: each key once its question listens (a key timed in seconds
    # fell between two AGI commands on a loaded CI machine and was lost)
    call = asterisk.place_call([("choose_language", "1"), ("main_menu", "2")])

    assert call.wait_queue_join(timeout=20) == "tributi"
    assert call.wait_operator()["MemberName"] == operator.name
    played = [p.prompt for p in call.played()]
    menu = played[: played.index("it/welcome")]  # the language menu
    offered = [f"{lang}/choose_language" for lang in ("it", "en", "fr", "es", "de", "zh", "ar")]
    assert menu and menu == offered[: len(menu)]
    assert played[len(menu) :] == ["it/welcome", "it/main_menu", "it/transferring"]
    assert call.variable("NU_PATH") == "lingua>benvenuto>principale>tributi_orari>tributi_operatori"


def test_the_same_instance_cannot_be_started_twice(asterisk):
    from ivr.devenv.asterisk import AsteriskInstance, free_port

    twin = AsteriskInstance(
        asterisk.instance.name,
        settings=asterisk.settings,
        ami_port=free_port(),
        sip_port=free_port(socket.SOCK_DGRAM),
    )
    with pytest.raises(RuntimeError, match="already runs"):
        twin.start()
    assert asterisk.instance.running and asterisk.ami.ping()


def test_ami_auto_reconnect_after_the_connection_drops(asterisk):
    client = _client(asterisk, auto_reconnect=True).connect()
    try:
        client._sock.shutdown(socket.SHUT_RDWR)  # as if Asterisk restarted
        deadline = time.monotonic() + 5
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not client.connected
        assert client.action("Ping").ok  # logs in again by itself
        assert client.connected
    finally:
        client.close()
