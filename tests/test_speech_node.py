"""The speech node in the engine: route, confirm, reject three times -> operator; loader checks."""

from datetime import datetime

import ivr.speech.node  # noqa: F401  (registers the node kind)
from ivr.flow.actions import (
    Digits,
    Heard,
    Listen,
    ListenFailed,
    NoInput,
    Play,
    Played,
    Prompt,
    Transfer,
)
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


def test_a_turn_that_cannot_be_listened_to_goes_to_a_human_told_so():
    """ListenFailed (no recogniser, the service down): the speech node, not the engine, decides:
    "transferring", then the general operator, reason speech_unavailable; at the first turn and
    at the confirmation alike."""
    for heard_first in (False, True):
        s = session()
        s.start()
        if heard_first:
            assert isinstance(s.feed(Heard("polizia", 0.9)), Listen)  # "did I understand?"
        told = s.feed(ListenFailed("recogniser"))
        assert told == Play((Prompt("transferring", "it"),))
        end = s.feed(Played())
        assert isinstance(end, Transfer) and end.queue == "op"
        assert end.reason == "speech_unavailable"


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


# -- keys as well as speech, and systems that can't hear the caller's language -----------------


def test_options_make_the_speech_node_a_menu_too():
    plan, issues = parse_dialplan(
        TEXT.replace("    intents:\n", '    options: {"2": tributi}\n    intents:\n', 1), "s.yaml"
    )
    assert issues == [], [str(i) for i in issues]
    call = CallSession(plan, now=NOW)
    assert isinstance(call.start(), Listen)
    action = call.feed(Digits("2"))  # pressed during the prompt, or instead of speaking
    assert isinstance(call.feed(Played()) if isinstance(action, Play) else action, Transfer)
    assert call.path[-1] == "tributi"
    call = CallSession(plan, now=NOW)
    call.start()
    assert isinstance(call.feed(Digits("7")), Listen)  # not an option: asked again
    assert call.failures == 1


def test_a_system_without_the_callers_language_offers_the_fallback_at_once():
    plan, _ = parse_dialplan(
        TEXT.replace("    intents:\n", "    unavailable: op\n    intents:\n", 1), "s.yaml"
    )
    for heard, listens in (("", False), ("en", False), ("it,en", True)):
        call = CallSession(plan, now=NOW, caller={"speech": heard})
        action = call.start()
        assert isinstance(action, Listen) is listens, heard
        if not listens:
            assert call.path[-1] == "op"


def test_example_city_saturated_registry_asks_by_voice_or_by_keys():
    from pathlib import Path

    from ivr.flow.actions import Ask, Invoke, Result
    from ivr.flow.loader import load_dialplan

    root = Path(__file__).resolve().parent.parent
    city = load_dialplan(root / "dialplans" / "example-city.yaml", root / "prompts")
    nobody = Result({"logged_in": 0, "available": 0, "waiting": 0})

    def saturated_registry(speech: str):
        call = CallSession(city, now=NOW, caller={"number": "", "speech": speech})
        action = call.start()
        for digit in ("1", "1", "4"):  # Italian, registry office, talk to the registry
            while isinstance(action, Play):
                action = call.feed(Played())
            action = call.feed(Digits(digit))
        while isinstance(action, Play):
            action = call.feed(Played())
        assert isinstance(action, Invoke) and action.service == "queues.state"
        return call, call.feed(nobody)

    call, action = saturated_registry("it,en")
    assert isinstance(action, Listen) and "certificato di residenza" in action.grammar
    assert action.prompts[0].key == "registry_busy_speech"
    ask = call.feed(Heard("certificato di residenza", 0.95))
    assert call.path[-1] == "certificato" and isinstance(ask, Ask)
    call, action = saturated_registry("it,en")
    call.feed(Digits("2"))
    assert call.path[-1] == "anagrafe_richiamata"

    call, action = saturated_registry("")  # no recognition models on this system
    assert isinstance(action, Ask) and action.prompts[0].key == "registry_busy_menu"
    assert call.path[-2:] == ["anagrafe_voce", "anagrafe_pieno"]
