"""The ``directory`` node in the engine and the runner: keys or words -> the name spoken back
-> the entry rung (NU_DIAL) with its department behind it; closed -> its hours, then the
department on 1; no match -> try again, then the operator."""

from __future__ import annotations

from datetime import datetime

from ivr.agi.peer import ScriptedCaller, drive
from ivr.agi.runner import make_handler
from ivr.directory.matching import Reach
from ivr.directory.rules import parse_hours
from ivr.flow.actions import (
    Ask,
    Digits,
    Heard,
    Invoke,
    Listen,
    ListenFailed,
    NoInput,
    Play,
    Played,
    Prompt,
    Result,
    Saying,
    Transfer,
)
from ivr.flow.engine import CallSession
from ivr.flow.loader import parse_dialplan

TEXT = """
number: "020202"
languages: [it, en]
general_operator: op
departments:
  op: {names: {it: Operatore, en: Operator}, hours: always}
  anagrafe:
    names: {it: Anagrafe, en: Registry}
    hours: {mon-fri: ["08:30-12:30"]}
nodes:
  rubrica: {type: directory, speech: true, retries: 2}
"""
MONDAY_10 = datetime(2026, 11, 23, 10)
MONDAY_18 = datetime(2026, 11, 23, 18)
WEDDING = Reach(7, "Ufficio Matrimoni", "PJSIP/201", "anagrafe")
ROSSI = Reach(8, "Mario Rossi", "PJSIP/0511@city-pbx", "anagrafe", parse_hours("always")[0])
ROSSETTI = Reach(9, "Marta Rossetti", "PJSIP/202", "anagrafe")


def session(now=MONDAY_10, speech: str | None = "") -> CallSession:
    plan, issues = parse_dialplan(TEXT, "dir.yaml")
    assert issues == []
    caller = {} if speech is None else {"speech": speech}
    return CallSession(plan, now=now, caller=caller)


def keys(action) -> list[str]:
    return [p.key for p in action.prompts if isinstance(p, Prompt)]


def finish(s: CallSession, action):
    while isinstance(action, Play):
        action = s.feed(Played())
    return action


def test_keyed_name_is_spoken_back_then_rung_with_the_department_behind():
    s = session()
    ask = s.start()
    assert isinstance(ask, Ask) and keys(ask) == ["directory_keys"] and ask.max_digits == 3
    assert s.feed(Digits("628")) == Invoke("directory.keys", {"digits": "628"})
    confirm = s.feed(Result(value=[WEDDING]))
    assert keys(confirm) == ["directory_you_said", "dir_7", "directory_confirm"]
    end = finish(s, s.feed(Digits("1")))
    assert isinstance(end, Transfer)
    assert (end.dial, end.department, end.reason) == ("PJSIP/201", "anagrafe", "directory")
    assert "628" not in repr(end.context)  # typed letters are not kept for anyone


def test_several_matches_are_offered_by_number():
    s = session()
    s.start()
    s.feed(Digits("767"))
    choose = s.feed(Result(value=[ROSSI, ROSSETTI]))
    assert keys(choose)[:3] == ["directory_choose", "directory_for", "dir_8"]
    assert Saying("digits", "2", "it") in choose.prompts
    end = finish(s, s.feed(Digits("2")))
    assert isinstance(end, Transfer) and end.dial == "PJSIP/202"


def test_no_match_tries_again_then_the_operator():
    s = session()
    s.start()
    s.feed(Digits("999"))
    again = s.feed(Result(value=[]))
    assert keys(again) == ["directory_no_match", "directory_keys"]
    s.feed(Digits("998"))
    end = finish(s, s.feed(Result(value=[])))
    assert isinstance(end, Transfer) and end.department == "op" and end.reason == "retries"
    assert end.dial == ""


def test_outside_hours_the_hours_are_said_and_1_reaches_the_department():
    s = session(now=MONDAY_18)
    s.start()
    s.feed(Digits("628"))
    s.feed(Result(value=[WEDDING]))
    closed = s.feed(Digits("1"))
    assert keys(closed) == ["directory_closed", "hours_anagrafe", "directory_offer_department"]
    end = finish(s, s.feed(Digits("1")))
    assert isinstance(end, Transfer) and end.department == "anagrafe" and end.dial == ""
    assert end.reason == "directory_closed"


def test_an_entrys_own_hours_win_over_its_departments():
    s = session(now=MONDAY_18)  # the registry is closed, Mario Rossi answers always
    s.start()
    s.feed(Digits("627"))
    s.feed(Result(value=[ROSSI]))
    end = finish(s, s.feed(Digits("1")))
    assert isinstance(end, Transfer) and end.dial == "PJSIP/0511@city-pbx"


def test_speech_uses_the_directorys_grammar_and_falls_back_to_keys():
    s = session(speech="it")
    assert s.start() == Invoke("directory.grammar", {})
    listen = s.feed(Result(value=("ufficio matrimoni", "nozze")))
    assert isinstance(listen, Listen) and listen.grammar == ("ufficio matrimoni", "nozze")
    assert s.feed(Heard("nozze")) == Invoke("directory.said", {"text": "nozze"})
    assert keys(s.feed(Result(value=[WEDDING])))[1] == "dir_7"
    s2 = session(speech="it")
    s2.start()
    s2.feed(Result(value=("nozze",)))
    assert keys(s2.feed(ListenFailed("recogniser"))) == ["directory_keys"]
    s3 = session(speech="")  # a language this system cannot hear: keys at once
    assert keys(s3.start()) == ["directory_keys"]


def test_a_broken_directory_service_puts_the_caller_through_to_the_operator():
    s = session()
    s.start()
    s.feed(Digits("628"))
    end = finish(s, s.feed(Result(error="unavailable")))
    assert isinstance(end, Transfer) and end.department == "op"


def test_silence_counts_as_a_failed_attempt():
    s = session()
    s.start()
    again = s.feed(NoInput())
    assert keys(again) == ["no_input", "directory_keys"]


def test_runner_sets_nu_dial_and_the_department_queue():
    plan, _ = parse_dialplan(TEXT, "dir.yaml")
    seen = []

    def lookup(args):
        seen.append(args)
        return [WEDDING]

    handler = make_handler(
        lambda agi: CallSession(plan, now=MONDAY_10, caller={"speech": ""}),
        "/snd",
        fallback_queue="op",
        services={"directory.keys": lookup},
    )
    record, _ = drive(handler, ScriptedCaller(["628", "1"]))
    assert seen == [{"digits": "628"}]
    assert record.variables["NU_DIAL"] == "PJSIP/201"
    assert record.variables["NU_QUEUE"] == "anagrafe"
    assert record.variables["NU_REASON"] == "directory"
    assert any(c.startswith('STREAM FILE "/snd/it/dir_7"') for c in record.commands)
