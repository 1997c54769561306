"""run_call: each engine action becomes the right AGI commands, each reply the right event."""

from __future__ import annotations

from pathlib import Path

from ivr.agi.peer import ScriptedCaller, drive
from ivr.agi.runner import MAX_STEPS, make_handler, run_call
from ivr.config import Settings
from ivr.flow.actions import (
    Ask,
    Digits,
    Hangup,
    NoInput,
    Play,
    Played,
    Prompt,
    PromptFailed,
    Transfer,
)
from ivr.service import city_handler
from tests.agi_support import FakeSession

ROOT = Path(__file__).resolve().parent.parent
SND = "/snd"
ESC = '"0123456789*#"'


def P(key: str, lang: str = "it") -> Prompt:
    return Prompt(key, lang)


OPERATOR = Transfer("operatore", "operatore", "it", "menu", {"lang": "it"})


def run(session, caller=None, **peer):
    return drive(lambda agi: run_call(agi, session, SND), caller or ScriptedCaller(), **peer)


def media(record):
    return [c for c in record.commands if c.split()[0] in ("STREAM", "GET", "HANGUP", "ANSWER")]


def test_play_streams_each_prompt_to_the_end():
    s = FakeSession(Play((P("welcome"), P("info"))), OPERATOR)
    record, outcome = run(s)
    assert record.commands[:4] == [
        "ANSWER",
        'SET VARIABLE "CHANNEL(language)" "it"',
        'STREAM FILE "/snd/it/welcome" "0123456789*#"',
        'STREAM FILE "/snd/it/info" "0123456789*#"',
    ]
    assert s.events == [Played()]
    assert outcome.final == OPERATOR and not outcome.hung_up


def test_a_key_during_a_message_skips_it_and_answers_the_next_question():
    s = FakeSession(Play((P("welcome"), P("info"))), Ask((P("menu"),)), OPERATOR)
    record, _ = run(s, ScriptedCaller(["^3"]))
    assert 'STREAM FILE "/snd/it/info" "0123456789*#"' not in record.commands
    assert not any(c.startswith("GET DATA") for c in record.commands)
    assert s.events == [Played(), Digits("3")]


def test_ask_plays_prompts_with_barge_in_then_get_data():
    s = FakeSession(Ask((P("sorry"), P("menu")), max_digits=1, timeout_ms=4000), OPERATOR)
    record, _ = run(s, ScriptedCaller(["3"]))
    assert media(record)[1:] == [
        f'STREAM FILE "/snd/it/sorry" {ESC}',
        'GET DATA "/snd/it/menu" 4000 1',
    ]
    assert s.events == [Digits("3")]


def test_key_during_an_earlier_prompt_is_the_answer():
    s = FakeSession(Ask((P("sorry"), P("menu"))), OPERATOR)
    record, _ = run(s, ScriptedCaller(["^2"]))
    assert not any(c.startswith("GET DATA") for c in record.commands)
    assert s.events == [Digits("2")]


def test_barge_in_then_rest_of_the_digits_with_get_data_on_no_file():
    s = FakeSession(Ask((P("intro"), P("code")), max_digits=3, timeout_ms=3000), OPERATOR)
    record, _ = run(s, ScriptedCaller(["^12#"]))
    assert 'GET DATA "" 3000 2' in record.commands
    assert s.events == [Digits("12")]


def test_hash_first_and_timeouts():
    ask = Ask((P("menu"),), max_digits=3)
    s = FakeSession(ask, ask, ask, Ask((P("a"), P("menu"))), OPERATOR)
    run(s, ScriptedCaller(["#", "", "12", "^#"]))
    assert s.events == [Digits(""), NoInput(), Digits("12"), Digits("")]


def test_missing_prompt_is_prompt_failed():
    s = FakeSession(
        Play((P("welcome"), P("gone"))),
        Ask((P("gone"), P("menu"))),
        Ask((P("menu"), P("gone"))),
        OPERATOR,
    )
    record, outcome = run(s, ScriptedCaller(["", ""]), missing=["it/gone"])
    assert s.events == [PromptFailed("gone")] * 3
    assert not outcome.hung_up


def test_language_is_set_on_the_channel_when_it_changes():
    def choose_en(session, event):
        session.language = "en"
        return Play((P("welcome", "en"),))

    s = FakeSession(Ask((P("lang"),)), choose_en, Play((P("more", "en"),)), OPERATOR)
    record, _ = run(s, ScriptedCaller(["2"]))
    langs = [c for c in record.commands if "CHANNEL(language)" in c]
    assert langs == [
        'SET VARIABLE "CHANNEL(language)" "it"',
        'SET VARIABLE "CHANNEL(language)" "en"',
    ]
    assert record.commands.index(langs[1]) < record.commands.index(
        'STREAM FILE "/snd/en/welcome" "0123456789*#"'
    )
    assert record.language == "en"


def test_transfer_sets_the_dialplan_variables():
    t = Transfer("anagrafe", "anagrafe", "en", "menu", {"lang": "en", "case-id": "A1"})
    s = FakeSession(Play((P("x"),)), t)
    record, outcome = run(s)
    v = record.variables
    assert (v["NU_QUEUE"], v["NU_DEPARTMENT"], v["NU_LANG"], v["NU_REASON"]) == (
        "anagrafe",
        "anagrafe",
        "en",
        "menu",
    )
    assert v["NU_PATH"] == "n0>n1"
    assert v["NU_CTX_LANG"] == "en" and v["NU_CTX_CASE_ID"] == "A1"
    assert record.hung_up is None  # we return; Asterisk's dialplan runs Queue()
    assert outcome.path == ["n0", "n1"]


def test_hangup_plays_goodbye_then_hangs_up():
    s = FakeSession(Hangup((P("goodbye"),)))
    record, outcome = run(s)
    assert record.commands[-3:] == [
        'STREAM FILE "/snd/it/goodbye" ""',
        'SET VARIABLE "NU_HANGUP" "yes"',
        "HANGUP",
    ]
    assert record.hung_up == "script" and not outcome.hung_up
    assert isinstance(outcome.final, Hangup)


def test_engine_error_sends_the_caller_to_the_operator():
    def boom(session, event):
        raise RuntimeError("bug")

    s = FakeSession(Play((P("welcome"),)), boom)
    record, outcome = run(s)
    assert s.fallbacks == ["error"]
    assert record.variables["NU_QUEUE"] == "operatore"
    assert record.variables["NU_REASON"] == "error"
    assert outcome.error == "RuntimeError" and not outcome.hung_up


def test_caller_hang_up_returns_quietly():
    s = FakeSession(Play((P("welcome"), P("info"))), OPERATOR)
    record, outcome = run(s, ScriptedCaller(hangup_during="welcome"))
    assert outcome.hung_up and outcome.error is None
    assert "NU_QUEUE" not in record.variables and s.fallbacks == []
    assert not any("info" in c for c in record.commands)


def test_caller_hang_up_during_input():
    s = FakeSession(Ask((P("menu"),)), OPERATOR)
    record, outcome = run(s, ScriptedCaller(["h"]))
    assert outcome.hung_up and s.events == []


def test_runaway_session_is_cut_to_the_operator():
    s = FakeSession(*([Play((P("x"),))] * (MAX_STEPS + 1)))
    record, outcome = run(s)
    assert outcome.error == "RuntimeError" and record.variables["NU_QUEUE"] == "operatore"


def test_handler_routes_to_operator_when_no_session_can_start():
    def no_flow(agi):
        raise OSError("dialplan unreadable")

    record, outcome = drive(make_handler(no_flow, SND, fallback_queue="operatore"))
    assert record.variables["NU_QUEUE"] == "operatore"
    assert record.variables["NU_REASON"] == "error"


def test_real_engine_on_the_example_city(tmp_path: Path):
    seen = []
    settings = Settings(
        redis_url="",
        dialplan_path=ROOT / "dialplans" / "example-city.yaml",
        asterisk_sounds_dir=SND,
        database_url=f"sqlite:///{tmp_path / 'city.db'}",  # never the developer's database
    )
    handler, _ = city_handler(settings, on_outcome=lambda agi, outcome: seen.append(outcome))
    record, outcome = drive(handler, ScriptedCaller(["1", "9"]))
    v = record.variables
    assert v["NU_QUEUE"] == "operatore" and v["NU_LANG"] == "it"
    assert v["NU_PATH"] == "lingua>benvenuto>principale>operatore"
    assert 'STREAM FILE "/snd/it/welcome" "0123456789*#"' in record.commands
    assert record.language == "it"
    assert seen == [outcome] and outcome.path[-1] == "operatore"


def test_city_handler_from_settings(tmp_path: Path):
    settings = Settings(
        redis_url="",
        dialplan_path=ROOT / "dialplans" / "example-city.yaml",
        asterisk_sounds_dir="/var/lib/nu/sounds",
        database_url=f"sqlite:///{tmp_path / 'city.db'}",  # never the developer's database
    )
    record, outcome = drive(city_handler(settings)[0], ScriptedCaller(["2", "9"]))
    assert record.variables["NU_QUEUE"] == "operatore" and record.variables["NU_LANG"] == "en"
    assert any('"/var/lib/nu/sounds/en/welcome"' in c for c in record.commands)
    assert outcome.language == "en" and not outcome.hung_up
