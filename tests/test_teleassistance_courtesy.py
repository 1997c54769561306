"""The courtesy call's spoken question (ivr/agi/courtesy.py) over canned AGI: what the citizen
pressed or said becomes NU_TA_ANSWER (1, 2, none), and anything that cannot be asked here leaves
it unset so that Asterisk asks with keys (Read) as without speech. Through a real Asterisk:
tests/test_asterisk_teleassistance_speech.py."""

from __future__ import annotations

import logging

import pytest

from ivr.agi.adapter import AGIHangup
from ivr.agi.courtesy import PROMPT, SCRIPT, answer_for, courtesy_handler
from ivr.flow.actions import Digits, Heard, Listen, ListenFailed, NoInput
from ivr.service import entry_points
from tests.agi_support import ENV, canned, sent

OK = "200 result=1"


def lang(value: str) -> str:
    return f"200 result=1 ({value})" if value else "200 result=0"


class Listener:
    def __init__(self, event) -> None:
        self.event, self.asked = event, []

    def __call__(self, agi, action: Listen):
        self.asked.append(action)
        if isinstance(self.event, Exception):
            raise self.event
        return self.event


@pytest.mark.parametrize(
    ("event", "answer"),
    [
        (Digits("1"), "1"),
        (Digits("2"), "2"),
        (Digits("5"), "none"),
        (Heard("aiuto", 0.9), "2"),
        (Heard("operatore per favore", 0.9), "2"),
        (Heard("[unk]", 0.9), "none"),
        (NoInput(), "none"),
        (ListenFailed("recogniser"), ""),
    ],
)
def test_answers(event, answer):
    assert answer_for(event, "it") == answer


def test_a_help_word_sets_the_answer_and_the_greeting_says_so():
    listener = Listener(Heard("aiuto", 0.9))
    agi, out = canned(lang("it"), OK)
    assert courtesy_handler(listener, ["it"])(agi) == "2"
    (action,) = listener.asked
    assert action.language == "it" and action.prompts[0].key == PROMPT
    assert "aiuto" in action.grammar and "help" not in action.grammar
    assert sent(out)[-1] == 'SET VARIABLE "NU_TA_ANSWER" "2"'


@pytest.mark.parametrize(
    ("listener", "language", "languages"),
    [
        (None, "it", ["it"]),  # no speech configured in this process
        (Listener(Heard("aiuto")), "fr", ["it"]),  # no model for French
        (Listener(Heard("aiuto")), "xx", None),  # no help words in that language
        (Listener(ListenFailed("recogniser")), "it", ["it"]),  # the service down
        (Listener(RuntimeError("broken")), "it", ["it"]),  # anything at all
    ],
)
def test_what_cannot_be_asked_here_is_left_to_the_keys(listener, language, languages):
    agi, out = canned(lang(language), OK)
    assert courtesy_handler(listener, languages)(agi) == ""
    assert not [line for line in sent(out) if "NU_TA_ANSWER" in line]


def test_a_hang_up_is_not_swallowed():
    agi, _ = canned(lang("it"))
    with pytest.raises(AGIHangup):
        courtesy_handler(Listener(AGIHangup("gone")), ["it"])(agi)


def test_what_was_said_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    agi, _ = canned(lang("it"), OK)
    courtesy_handler(Listener(Heard("aiuto operatore", 0.9)), ["it"])(agi)
    assert "aiuto" not in caplog.text and "operatore" not in caplog.text


def test_the_fastagi_path_picks_the_handler():
    seen = []
    dispatch = entry_points(
        lambda agi: seen.append("city"), {SCRIPT: lambda agi: seen.append(SCRIPT)}
    )
    for script, expected in [(SCRIPT, SCRIPT), ("", "city"), ("other", "city")]:
        env = ENV + (f"agi_network_script: {script}\n" if script else "")
        agi, _ = canned(env=env)
        dispatch(agi)
        assert seen[-1] == expected, script


def test_asterisk_asks_the_fastagi_path_only_when_the_city_has_speech(tmp_path):
    """extensions.conf runs the handler's path when the rendered NU_SPEECH is 1, which it is
    exactly when NU_SPEECH_MODELS is set."""
    import dataclasses

    from ivr import config
    from ivr.asterisk.render import render
    from ivr.flow.loader import load_dialplan

    static = (config.ROOT / "asterisk-conf" / "extensions.conf").read_text()
    assert "AGI(${NU_AGI_URL}/" + SCRIPT + ")" in static
    assert 'GotoIf($["${NU_SPEECH}" != "1"]?keys)' in static
    dialplan = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")
    for models, flag in [("", "0"), ("it=/models/it", "1")]:
        settings = dataclasses.replace(config.load(), speech_models=models)
        out = tmp_path / (flag or "off")
        render(dialplan, settings, out, ami_port=6038, sip_port=6060, agi_port=4999)
        assert f"\nNU_SPEECH={flag}\n" in (out / "extensions_nu.conf").read_text()
