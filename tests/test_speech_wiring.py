"""Speech wired into the city: the example city's "press 8, say what you need", callers whose
language has no intents, the service's listener from the settings, and ``ivr up``'s recognition
service (a broken model is reported and never stops the phone system; restarts of crashed
processes are the supervisor's, tests/test_supervisor.py)."""

from __future__ import annotations

import dataclasses
import socket
import time
from datetime import datetime
from pathlib import Path

import pytest

from ivr import config
from ivr.devenv.asterisk import free_port
from ivr.flow.actions import Ask, Digits, Heard, Listen, Play, Played, Result, Transfer
from ivr.flow.engine import CallSession
from ivr.flow.loader import load_dialplan, parse_dialplan
from ivr.processes import EXIT_CONFIG, by_name, wanted
from ivr.service import city_handler, speech_listener, speech_spool
from ivr.supervisor import Supervisor
from tests.test_speech_node import TEXT
from tests.test_speech_recognizer import KO_MODEL

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = load_dialplan(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
MONDAY_10 = datetime(2026, 11, 23, 10, 0)
LANG_KEY = {"it": "1", "en": "2", "fr": "3"}


def at_speech(lang: str) -> tuple[CallSession, object]:
    """A caller of the example city who chose ``lang`` and pressed 8 on the main menu."""
    s = CallSession(EXAMPLE, now=MONDAY_10)
    s.start()
    action = s.feed(Digits(LANG_KEY[lang]))
    while isinstance(action, Play):
        action = s.feed(Played())
    assert isinstance(action, Ask) and action.prompts[-1].key == "main_menu"
    return s, s.feed(Digits("8"))


def until_waiting(s: CallSession, action):
    while isinstance(action, Play):
        action = s.feed(Played())
    return action


@pytest.mark.parametrize(
    ("lang", "said", "node"),
    [
        ("it", "vorrei un certificato di residenza", "anagrafe"),
        ("it", "anagrafe", "anagrafe"),
        ("it", "devo pagare le tasse", "tributi_orari"),
        ("it", "tributi", "tributi_orari"),
        ("it", "ho preso una multa", "polizia"),
        ("it", "la raccolta differenziata", "rifiuti_orari"),
        ("it", "i servizi sociali", "sociali_orari"),
        ("it", "un permesso di sosta", "mobilita_orari"),
        ("it", "vorrei parlare con un operatore", "operatore"),
        ("en", "I'd like a residence certificate please", "anagrafe"),
        ("en", "local taxes", "tributi_orari"),
        ("en", "garbage", "rifiuti_orari"),
        ("en", "social services", "sociali_orari"),
        ("en", "parking permit", "mobilita_orari"),
        ("en", "local police", "polizia"),
        ("en", "operator", "operatore"),
    ],
)
def test_example_city_routes_what_callers_say(lang, said, node):
    s, listen = at_speech(lang)
    assert isinstance(listen, Listen) and listen.prompts[-1].key == "speech_prompt"
    assert listen.language == lang and "[unk]" in listen.grammar
    after = s.feed(Heard(said, 0.95))
    assert after is not None and s.path[s.path.index("parla") + 1] == node


def test_a_registry_request_reaches_the_registry_menu_and_the_operator_sees_it():
    s, _ = at_speech("it")
    menu = s.feed(Heard("vorrei un certificato di residenza", 0.95))
    assert isinstance(menu, Ask) and menu.prompts[-1].key == "registry_booking_menu"
    end = until_waiting(s, s.feed(Digits("4")))  # talk to the registry office (open Monday)
    if not isinstance(end, Transfer):  # the saturation check asks for live state: none here
        end = until_waiting(s, s.feed(Result(error="unavailable")))
    assert isinstance(end, Transfer) and end.department == "anagrafe"
    assert end.context["said"] == "vorrei un certificato di residenza"
    assert "parla" in end.context["path"]


def test_a_language_without_intents_hears_so_and_is_back_at_the_menu():
    """French has no speech model: never silence, never a recogniser that can't understand."""
    s, action = at_speech("fr")
    assert isinstance(action, Play) and [p.key for p in action.prompts] == ["speech_unavailable"]
    assert action.prompts[0].language == "fr"
    menu = s.feed(Played())
    assert isinstance(menu, Ask) and menu.prompts[-1].key == "main_menu"
    end = until_waiting(s, s.feed(Digits("6")))
    assert isinstance(end, Transfer) and end.department == "polizia"


def test_without_a_fallback_node_the_operator_takes_over():
    text = TEXT.replace("languages: [it]", "languages: [it, en]").replace(
        "{names: {it: Operatore}", "{names: {it: Operatore, en: Operator}"
    )
    text = text.replace("{names: {it: Anagrafe}", "{names: {it: Anagrafe, en: Registry}")
    text = text.replace("{names: {it: Tributi}", "{names: {it: Tributi, en: Taxes}")
    text = text.replace(
        "    confirm_prompt: main_menu\n",
        "    confirm_prompt: main_menu\n    unavailable_prompt: speech_unavailable\n",
    )
    # English first (the default language), and the speech node has no English intents
    plan, issues = parse_dialplan(text.replace("[it, en]", "[en, it]"), "s.yaml")
    assert issues == [], [str(i) for i in issues]
    s = CallSession(plan, now=MONDAY_10)
    first = s.start()
    assert s.lang == "en" and isinstance(first, Play)
    assert [p.key for p in first.prompts] == ["speech_unavailable", "transferring"]
    end = until_waiting(s, s.feed(Played()))
    assert isinstance(end, Transfer) and end.department == "op"
    assert end.reason == "speech_unavailable"


def test_the_listener_follows_the_settings(tmp_path):
    settings = dataclasses.replace(config.load(), var_dir=tmp_path, speech_models="")
    assert speech_listener(settings) is None
    assert speech_spool(settings) == (str(tmp_path / "speech"), tmp_path / "speech")
    chroot = dataclasses.replace(
        settings,
        speech_models="it=/opt/vosk/it",
        speech_spool_dir=str(tmp_path / "root/srv/spool"),
        asterisk_speech_spool_dir="/srv/spool",
    )
    assert speech_spool(chroot) == ("/srv/spool", tmp_path / "root/srv/spool")
    assert callable(speech_listener(chroot))
    assert (tmp_path / "root/srv/spool").is_dir()


def test_the_city_handler_records_speech_into_the_configured_spool(tmp_path):
    """With NU_SPEECH_MODELS set, the speech node's answer is recorded by Asterisk into the
    spool as Asterisk sees it (the scripted caller then hangs up)."""
    from ivr.agi.peer import ScriptedCaller, drive

    settings = dataclasses.replace(
        config.load(),
        var_dir=tmp_path,
        redis_url="",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        speech_models="it=/nowhere",
        speech_port=free_port(),
        speech_spool_dir=str(tmp_path / "spool"),
        asterisk_speech_spool_dir="/in/chroot/spool",
    )
    handler, _ = city_handler(settings, clock=lambda zone: MONDAY_10.replace(tzinfo=zone))
    record, outcome = drive(handler, ScriptedCaller(["1", "8"]))
    assert record.commands[-2].endswith('/it/speech_prompt" "0123456789*#"')
    assert record.commands[-1].startswith('RECORD FILE "/in/chroot/spool/nu-speech-')
    assert outcome.path[-1] == "parla" and (tmp_path / "spool").is_dir()


def test_without_models_the_city_handler_offers_keys_not_listening(tmp_path):
    """No NU_SPEECH_MODELS: key 8 ("say what you need") says speech is unavailable and gives the
    main menu back, nothing is recorded; with only Italian configured an English caller gets the
    same, an Italian one is listened to."""
    from ivr.agi.peer import ScriptedCaller, drive

    base = dataclasses.replace(
        config.load(),
        var_dir=tmp_path,
        redis_url="",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        speech_port=free_port(),
        speech_spool_dir=str(tmp_path / "spool"),
    )
    clock = lambda zone: MONDAY_10.replace(tzinfo=zone)  # noqa: E731
    for models, keys, listened in (
        ("", ["1", "8"], False),
        ("it=/nowhere", ["2", "8"], False),
        ("it=/nowhere", ["1", "8"], True),
    ):
        handler, _ = city_handler(dataclasses.replace(base, speech_models=models), clock=clock)
        record, outcome = drive(handler, ScriptedCaller(keys))
        recorded = any(c.startswith("RECORD FILE") for c in record.commands)
        assert recorded is listened, (models, keys)
        if not listened:
            assert any("/speech_unavailable" in c for c in record.commands)
            assert outcome.path[-2:] == ["parla", "principale"]


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _speech(models: str, port: int, **env: str) -> Supervisor:
    """The ``speech`` process of ``ivr up`` / ``ivr services run``, for these models."""
    import os

    environ = dict(os.environ, NU_SPEECH_MODELS=models, NU_SPEECH_PORT=str(port), **env)
    return Supervisor([by_name("speech")], env=environ)


def test_ivr_up_starts_the_service_and_reports_problems(tmp_path, capfd):
    """``ivr up``'s recognition process: the start-up check names the speech languages without
    a model; a model that is missing does not stop the others from serving."""
    port = free_port()
    supervisor = _speech(f"ko={KO_MODEL},it={tmp_path / 'missing'}", port, NU_VAR_DIR=str(tmp_path))
    supervisor.start()
    try:
        assert _wait_port(port, 60), capfd.readouterr()
    finally:
        supervisor.stop()
    out = capfd.readouterr().out
    assert f"model 'it': {tmp_path / 'missing'}: no such directory" in out
    assert "speech node 'parla': no model configured for 'en'" in out
    assert f"serving ko on 127.0.0.1:{port}" in out
    no_models = dataclasses.replace(config.load(), speech_models="")
    assert by_name("speech") not in wanted(no_models)
    assert by_name("speech") in wanted(dataclasses.replace(no_models, speech_models="ko=/m"))


def test_ivr_up_with_only_a_broken_model_keeps_running(tmp_path, capfd):
    supervisor = _speech(f"it={tmp_path}", free_port())
    supervisor.start()
    (child,) = supervisor.children
    try:
        assert child.popen.wait(timeout=60) == EXIT_CONFIG  # it stops; nothing else does
        supervisor.poll()
        assert child.done and child.restarts == 0  # restarting could not help: left stopped
    finally:
        supervisor.stop()
    out = capfd.readouterr().out
    assert f"model 'it': {tmp_path}/am: missing" in out and "no usable model" in out


def test_a_spool_asterisk_cannot_write_sends_the_caller_to_a_human(tmp_path):
    from ivr.agi.adapter import AGIAppError
    from ivr.flow.actions import ListenFailed, Prompt
    from ivr.speech.listener import recording_listener

    class NoSpool:
        def stream_file(self, path, escape):
            return None, 0

        def record_file(self, path, *args, **kw):
            raise AGIAppError(f"cannot write recording {path!r}")

    listen = recording_listener(("127.0.0.1", free_port()), "/snd", "/no/such/spool", tmp_path)
    action = Listen((Prompt("speech_prompt", "it"),), "it", ("anagrafe",), 6000)
    assert listen(NoSpool(), action) == ListenFailed("record")


def test_a_grammar_with_no_known_word_hears_nothing_and_the_service_survives():
    """vosk segfaults on an empty grammar (e.g. a confirmation in a language without yes/no
    words, or phrases all outside the model's vocabulary): the service answers "nothing heard"
    and keeps serving the next call."""
    from ivr.speech.recognizer import ask_service, load_model, serve_in_thread
    from tests.test_speech_recognizer import chunks, speak

    server = serve_in_thread({"ko": load_model(KO_MODEL)})
    try:
        for grammar in ([], ["anagrafe", "[unk]"]):
            heard = ask_service(server.server_address, "ko", grammar, chunks(speak("민원")))
            assert heard.text == ""
        heard = ask_service(server.server_address, "ko", ["민원"], chunks(speak("민원")))
        assert heard.text == "민원"
    finally:
        server.shutdown()
        server.server_close()
