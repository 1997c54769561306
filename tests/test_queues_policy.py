"""Saturation policy in the dialplan YAML: parsed per department, checked, and applied."""

from ivr.flow.actions import Invoke, Play, Result, Transfer
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
    assert isinstance(action, Transfer) and action.department == "anagrafe"
    assert call.data["queue_position"] == 2
    assert call.data["queue_wait_s"] == 60.0


def test_unreadable_state_never_blocks_the_call():
    dialplan, _ = parse()
    call = session(dialplan)
    call.start()
    action = call.feed(Result(error="unavailable"))
    assert isinstance(action, Transfer) and action.department == "anagrafe"
    assert not isinstance(action, Play)
