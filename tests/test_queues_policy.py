"""Saturation policy in the dialplan YAML: parsed per department, checked, and applied."""

from datetime import datetime

from ivr.flow.actions import Invoke, Play, Played, Prompt, Result, Saying, Transfer
from ivr.flow.engine import CallSession
from ivr.flow.loader import parse_dialplan
from ivr.flow.validate import validate
from ivr.queues.estimate import SaturationPolicy

YAML = """\
number: "020202"
languages: [it, en]
general_operator: op
departments:
  op: {names: {it: Operatore, en: Operator}, hours: always}
  anagrafe:
    names: {it: Anagrafe, en: Registry}
    hours: always
    saturation: {no_operator: true, max_waiting: 2, max_wait_s: 300, offer: %s}
nodes:
  start: {type: transfer, department: anagrafe, prompt: null}
  offerta: {type: hangup}
"""


def parse(offer="offerta"):
    dialplan, issues = parse_dialplan(YAML % offer, "city.yaml")
    assert dialplan is not None, issues
    return dialplan, [str(i) for i in issues + validate(dialplan)]


def test_policy_parsed_and_offer_reachable():
    dialplan, issues = parse()
    assert issues == []
    assert dialplan.departments["anagrafe"].saturation == SaturationPolicy(
        offer="offerta", no_operator=True, max_waiting=2, max_wait_s=300
    )
    assert dialplan.departments["op"].saturation is None


def test_offer_must_be_a_node():
    _, issues = parse("nowhere")
    assert any("saturation offer 'nowhere' is not a node" in i for i in issues)


def test_bad_policy_shapes_are_reported():
    text = (YAML % "offerta").replace("max_waiting: 2", "max_waiting: lots")
    _, issues = parse_dialplan(text, "city.yaml")
    assert any("max_waiting must be a whole number" in str(i) for i in issues)


def session(dialplan):
    return CallSession(dialplan, now=__import__("datetime").datetime(2026, 11, 23, 10, 0))


def test_saturated_department_goes_to_offer():
    dialplan, _ = parse()
    call = session(dialplan)
    action = call.start()
    assert action == Invoke("queues.state", {"queue": "anagrafe"})
    after = call.feed(Result({"logged_in": 1, "available": 0, "waiting": 0}))
    assert not isinstance(after, Transfer)
    assert call.path[-1] == "offerta"
    assert call.data["saturation"] == "no_operator"


def test_queue_with_room_transfers_with_estimate():
    dialplan, _ = parse()
    call = session(dialplan)
    call.start()
    state = {"logged_in": 3, "available": 1, "waiting": 1, "aht_s": 120}
    action = call.feed(Result(state))
    assert call.data["queue_position"] == 2
    assert call.data["queue_wait_s"] == 60.0
    # "you are number 2 in line; the wait is about 1 minute", then the hand-over
    assert action == Play(
        (
            Prompt("queue_position", "it"),
            Saying("number", "2", "it"),
            Prompt("queue_wait_about", "it"),
            Saying("number", "1", "it"),
            Prompt("minute", "it"),
        )
    )
    handover = call.feed(Played())
    assert isinstance(handover, Transfer) and handover.department == "anagrafe"


def test_caller_answered_at_once_hears_no_queue_announcement():
    dialplan, _ = parse()
    call = session(dialplan)
    call.start()
    action = call.feed(Result({"logged_in": 3, "available": 2, "waiting": 1, "aht_s": 120}))
    assert isinstance(action, Transfer)


def test_third_in_line_hears_position_and_minutes_in_their_language():
    dialplan, _ = parse()
    call = CallSession(dialplan, now=datetime(2026, 11, 23, 10, 0), language="en")
    call.start()
    # two waiting, one of three operators free, four minutes a call: (3 - 1) * 240 / 2 = 4 min
    action = call.feed(Result({"logged_in": 3, "available": 1, "waiting": 2, "aht_s": 240}))
    assert isinstance(action, Play)
    assert action.prompts[:2] == (Prompt("queue_position", "en"), Saying("number", "3", "en"))
    assert action.prompts[3:] == (Saying("number", "4", "en"), Prompt("minutes", "en"))


def test_unknown_handling_time_says_position_only():
    dialplan, _ = parse()
    call = session(dialplan)
    call.start()
    # nobody serving: no estimate can be made (the policy's offer is not met: max_waiting 2)
    action = call.feed(Result({"logged_in": 1, "available": 0, "paused": 1, "waiting": 0}))
    assert call.path[-1] == "offerta"  # no_operator: the offer instead
    call = session(
        parse_dialplan(
            YAML.replace("no_operator: true, ", "").replace(", max_wait_s: 300", "") % "offerta",
            "c",
        )[0]
    )
    call.start()
    action = call.feed(Result({"logged_in": 1, "available": 0, "paused": 1, "waiting": 0}))
    assert action == Play((Prompt("queue_position", "it"), Saying("number", "1", "it")))


def test_hold_node_queues_a_caller_who_chose_to_wait():
    dialplan, _ = parse_dialplan(
        (YAML % "offerta").replace("prompt: null}", "prompt: null, hold: true}"), "c"
    )
    call = session(dialplan)
    assert call.start() == Invoke("queues.state", {"queue": "anagrafe"})
    action = call.feed(Result({"logged_in": 1, "available": 0, "waiting": 0, "aht_s": 60}))
    assert "saturation" not in call.data
    assert action.prompts[1] == Saying("number", "1", "it")
    assert isinstance(call.feed(Played()), Transfer)


def test_queue_prompts_required_only_with_a_policy():
    from ivr.flow.model import QUEUE_PROMPTS, engine_prompts

    dialplan, _ = parse()
    assert set(QUEUE_PROMPTS) <= set(engine_prompts(dialplan))
    plain, _ = parse_dialplan(
        YAML.replace(
            "    saturation: {no_operator: true, max_waiting: 2, max_wait_s: 300, offer: %s}\n", ""
        ),
        "c",
    )
    assert not set(QUEUE_PROMPTS) & set(engine_prompts(plain))


def test_unreadable_state_never_blocks_the_call():
    dialplan, _ = parse()
    call = session(dialplan)
    call.start()
    action = call.feed(Result(error="unavailable"))
    assert isinstance(action, Transfer) and action.department == "anagrafe"
    assert not isinstance(action, Play)
