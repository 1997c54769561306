"""The call-flow engine on the example city: routes, retries, hours and failures."""

from datetime import datetime
from pathlib import Path

import pytest

from ivr.flow.actions import (
    Ask,
    Digits,
    Hangup,
    Invoke,
    NoInput,
    Play,
    Played,
    Prompt,
    PromptFailed,
    Result,
    Transfer,
)
from ivr.flow.engine import CallSession, SessionOver
from ivr.flow.loader import load_dialplan, parse_dialplan

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = load_dialplan(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
MONDAY_10 = datetime(2026, 11, 23, 10, 0)
SUNDAY_10 = datetime(2026, 11, 22, 10, 0)


def keys(action) -> list[str]:
    return [p.key for p in action.prompts]


def run(session: CallSession, answers: list[str | None]) -> tuple[list, Transfer | Hangup]:
    """Feed digits (None = silence) to each Ask; Plays are heard to the end; services (the
    live queue state of a department with a saturation policy) are down, as without Redis."""
    seen = []
    action = session.start()
    answers = list(answers)
    while not isinstance(action, Transfer | Hangup):
        seen.append(action)
        if isinstance(action, Play):
            action = session.feed(Played())
        elif isinstance(action, Invoke):
            action = session.feed(Result(error="unavailable"))
        else:
            assert answers, f"flow asked more than scripted: {action}"
            answer = answers.pop(0)
            action = session.feed(NoInput() if answer is None else Digits(answer))
    assert not answers, f"unused answers {answers}"
    return seen, action


@pytest.mark.parametrize(
    ("digits", "department"),
    [
        (["1", "1", "4"], "anagrafe"),
        (["1", "2"], "tributi"),
        (["1", "3"], "sociali"),
        (["2", "6"], "polizia"),
        (["1", "9"], "operatore"),
    ],
)
def test_keypad_routes_to_department(digits, department):
    _, end = run(CallSession(EXAMPLE, now=MONDAY_10), digits)
    assert isinstance(end, Transfer)
    assert end.department == department and end.queue == department
    assert end.reason == "menu"


def test_language_follows_the_call():
    seen, end = run(CallSession(EXAMPLE, now=MONDAY_10), ["2", "2"])
    assert end.language == "en" and end.context["lang"] == "en"
    first = seen[0]
    assert isinstance(first, Ask)
    # Each offered language is announced in that language, in the menu's order.
    offered = ("it", "en", "fr", "es", "de", "zh", "ar")
    assert first.prompts == tuple(Prompt("choose_language", lang) for lang in offered)
    assert all(p.language == "en" for a in seen[1:] for p in a.prompts)
    assert end.context["path"].startswith("lingua>benvenuto>principale")


def test_handover_prompt_before_transfer():
    seen, _ = run(CallSession(EXAMPLE, now=MONDAY_10), ["1", "9"])
    assert keys(seen[-1]) == ["transferring"]


def test_repeat_does_not_count_as_failure():
    seen, end = run(CallSession(EXAMPLE, now=MONDAY_10), ["1", "0", "0", "0", "2"])
    assert end.department == "tributi"
    assert [keys(a) for a in seen if isinstance(a, Ask)][-1] == ["main_menu"]


def test_three_wrong_or_silent_answers_reach_the_operator():
    seen, end = run(CallSession(EXAMPLE, now=MONDAY_10), ["1", "7", None, "7"])
    assert end.department == "operatore" and end.reason == "retries"
    asks = [keys(a) for a in seen if isinstance(a, Ask)]
    assert asks[2] == ["invalid_choice", "main_menu"]
    assert asks[3] == ["no_input", "main_menu"]
    assert keys(seen[-1]) == ["too_many_attempts"]


def test_silent_language_menu_also_reaches_the_operator():
    _, end = run(CallSession(EXAMPLE, now=MONDAY_10), [None, None, None])
    assert end.department == "operatore" and end.language == "it"


def test_failures_reset_in_a_new_menu():
    _, end = run(CallSession(EXAMPLE, now=MONDAY_10), ["1", "7", "7", "1", "7", "7", "4"])
    assert end.department == "anagrafe"


def test_closed_department_plays_hours_then_menu_again():
    seen, end = run(CallSession(EXAMPLE, now=SUNDAY_10), ["1", "2", "9"])
    closed = next(a for a in seen if isinstance(a, Play) and "closed_now" in keys(a))
    assert keys(closed) == ["closed_now", "hours_tributi"]
    after = seen[seen.index(closed) + 1]
    assert isinstance(after, Ask) and keys(after) == ["main_menu"]
    assert end.department == "operatore"


def test_night_switch_closes_an_open_department():
    session = CallSession(EXAMPLE, now=MONDAY_10, switches=frozenset({"tributi"}))
    seen, _ = run(session, ["1", "2", "9"])
    assert any(isinstance(a, Play) and "hours_tributi" in keys(a) for a in seen)


def test_prompt_failure_goes_to_operator():
    session = CallSession(EXAMPLE, now=MONDAY_10)
    session.start()
    end = session.feed(PromptFailed("choose_language"))
    assert isinstance(end, Transfer) and end.department == "operatore" and end.reason == "prompt"
    with pytest.raises(SessionOver):
        session.feed(Digits("1"))


def test_hangup_node_says_goodbye():
    text = """
number: "020202"
languages: [it]
general_operator: op
departments:
  op: {names: {it: Operatore}, hours: always}
nodes:
  start: {type: menu, prompt: main_menu, options: {"1": bye, "2": op}}
  bye: {type: hangup}
  op: {type: transfer, department: op}
"""
    dialplan, issues = parse_dialplan(text)
    assert issues == []
    _, end = run(CallSession(dialplan, now=MONDAY_10), ["1"])
    assert isinstance(end, Hangup) and keys(end) == ["goodbye"]


def test_runaway_loop_is_cut_to_the_operator():
    text = """
number: "020202"
languages: [it]
general_operator: op
departments:
  op: {names: {it: Operatore}, hours: always}
nodes:
  a: {type: goto, next: b}
  b: {type: goto, next: a}
"""
    dialplan, _ = parse_dialplan(text)
    end = CallSession(dialplan, now=MONDAY_10).start()
    assert isinstance(end, Transfer) and end.reason == "error"
