"""The speech node in the engine: route, confirm, reject three times -> operator; loader checks."""

from datetime import datetime

import ivr.speech.node  # noqa: F401  (registers the node kind)
from ivr.flow.actions import Digits, Heard, Listen, NoInput, Play, Played, Transfer
from ivr.flow.engine import CallSession
from ivr.flow.loader import parse_dialplan
from ivr.flow.validate import validate
from ivr.speech.node import SpeechNode

TEXT = """
number: "020202"
languages: [it]
general_operator: op
departments:
  op: {names: {it: Operatore}, hours: always}
  anag: {names: {it: Anagrafe}, hours: always}
  trib: {names: {it: Tributi}, hours: always}
nodes:
  speak:
    type: speech
    prompt: main_menu
    confirm_prompt: main_menu
    intents:
      it:
        anagrafe: [anagrafe, certificato di residenza]
        tributi: [tributi, tasse, polizia locale]
        op: [operatore]
  anagrafe: {type: transfer, department: anag}
  tributi: {type: transfer, department: trib}
  op: {type: transfer, department: op}
"""
NOW = datetime(2026, 11, 23, 10)


def session():
    plan, issues = parse_dialplan(TEXT, "speech.yaml")
    assert issues == [], [str(i) for i in issues]
    assert isinstance(plan.nodes["speak"], SpeechNode)
    return CallSession(plan, now=NOW)


def until_transfer(s, action):
    while isinstance(action, Play):
        action = s.feed(Played())
    return action


def test_listen_carries_the_menu_grammar():
    listen = session().start()
    assert isinstance(listen, Listen) and listen.language == "it"
    assert "certificato di residenza" in listen.grammar and listen.grammar[-1] == "[unk]"


def test_a_clear_sentence_routes_and_the_operator_sees_it():
    s = session()
    s.start()
    end = until_transfer(s, s.feed(Heard("vorrei un certificato di residenza", 0.9)))
    assert isinstance(end, Transfer) and end.queue == "anag"
    assert end.context["said"] == "vorrei un certificato di residenza"


def test_unsure_is_confirmed_by_voice_or_key():
    for answer in (Heard("sì", 0.9), Digits("1")):
        s = session()
        s.start()
        confirm = s.feed(Heard("polizia", 0.9))
        assert isinstance(confirm, Listen) and "sì" in confirm.grammar
        end = until_transfer(s, s.feed(answer))
        assert isinstance(end, Transfer) and end.queue == "trib"


def test_a_no_asks_again_and_three_failures_reach_the_operator():
    s = session()
    s.start()
    s.feed(Heard("polizia", 0.9))
    again = s.feed(Digits("2"))
    assert isinstance(again, Listen) and again.prompts[0].key == "invalid_choice"
    again = s.feed(Heard("il meteo", 0.9))
    assert isinstance(again, Listen)
    end = until_transfer(s, s.feed(NoInput()))
    assert isinstance(end, Transfer) and end.queue == "op" and end.reason == "retries"


def test_loader_rejects_unknown_targets_and_missing_intents():
    plan, issues = parse_dialplan(TEXT.replace("tributi: [tributi", "nowhere: [tributi"), "s.yaml")
    assert issues == []
    assert any("nowhere" in str(i) for i in validate(plan))
    assert validate(session().dialplan) == []
    bad = TEXT.replace("    intents:\n", "    colour: red\n    x:\n")
    _, issues = parse_dialplan(bad, "s.yaml")
    assert any("intents" in str(i) for i in issues)
