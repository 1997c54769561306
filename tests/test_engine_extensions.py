"""Feature node kinds plug into the engine and the loader; the runner performs their actions.

A small ``check_code`` node (ask for digits, ask a service, read the code back) stands in for
the booking and speech nodes that use the same API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.agi.peer import ScriptedCaller, drive
from ivr.agi.runner import make_handler
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
    Result,
    Saying,
    Transfer,
)
from ivr.flow.engine import CallSession, register_behaviour
from ivr.flow.loader import parse_dialplan
from ivr.flow.model import Node, register_node
from ivr.flow.services import ServiceError


@dataclass(frozen=True)
class CheckCodeNode(Node):
    FIELDS = ("prompt", "next", "retries")
    prompt: str = ""
    next: str = ""
    retries: int = 3

    def targets(self) -> tuple[str, ...]:
        return (self.next,)

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt,)

    @property
    def waits_for_caller(self) -> bool:
        return True

    @classmethod
    def parse(cls, reader, node_id, body, line):
        return cls(
            id=node_id,
            line=line,
            prompt=reader.text(body, "prompt", node_id),
            next=reader.text(body, "next", node_id),
            retries=int(body.get("retries", 3)),
        )


class CheckCode:
    def enter(self, session, node):
        return session.ask(session.p(node.prompt), max_digits=4)

    def answer(self, session, node, event):
        if isinstance(event, Digits | NoInput) and session.data.get("code") is None:
            if isinstance(event, Digits) and len(event.digits) == 4:
                session.data["code"] = event.digits
                return session.invoke("codes.check", code=event.digits)
            return session.retry_or_operator(node.retries, "invalid_choice") or self.enter(
                session, node
            )
        if isinstance(event, Result):
            code = session.data.pop("code")
            if event.ok:
                session.data["said"] = f"code {code}"
                pieces = (*session.p("welcome"), Saying("digits", code, session.lang))
                return session.play_then(pieces, node.next)
            give_up = session.retry_or_operator(node.retries, "invalid_choice")
            return give_up or self.enter(session, node)
        return session.fallback("error")


register_node("check_code", CheckCodeNode)
register_behaviour(CheckCodeNode, CheckCode())

TEXT = """
number: "020202"
languages: [it]
general_operator: op
departments:
  op: {names: {it: Operatore}, hours: always}
nodes:
  code: {type: check_code, prompt: main_menu, next: op}
  op: {type: transfer, department: op}
"""
NOW = datetime(2026, 11, 23, 10)


def dialplan():
    plan, issues = parse_dialplan(TEXT, "ext.yaml")
    assert issues == []
    return plan


def test_feature_node_is_parsed_and_checked_like_core_nodes():
    plan, issues = parse_dialplan(TEXT.replace("next: op}", "next: op, colour: red}"), "ext.yaml")
    assert [str(i) for i in issues] == [
        "ext.yaml:8: node 'code': 'colour' is not a field of a check_code node"
    ]
    assert isinstance(dialplan().nodes["code"], CheckCodeNode)


def test_engine_invokes_a_service_and_reads_the_answer_back():
    session = CallSession(dialplan(), now=NOW)
    assert isinstance(session.start(), Ask)
    invoke = session.feed(Digits("1234"))
    assert invoke == Invoke("codes.check", {"code": "1234"})
    play = session.feed(Result(value=True))
    assert isinstance(play, Play) and play.prompts[-1] == Saying("digits", "1234", "it")
    handover = session.feed(Played())
    end = session.feed(Played()) if isinstance(handover, Play) else handover
    assert isinstance(end, Transfer) and end.context["said"] == "code 1234"


def test_service_errors_count_as_failed_attempts_then_operator():
    session = CallSession(dialplan(), now=NOW)
    session.start()
    for _ in range(2):
        session.feed(Digits("9999"))
        again = session.feed(Result(error="not_found"))
        assert isinstance(again, Ask) and again.prompts[0].key == "invalid_choice"
    session.feed(Digits("9999"))
    give_up = session.feed(Result(error="not_found"))
    end = session.feed(Played()) if isinstance(give_up, Play) else give_up
    assert isinstance(end, Transfer) and end.reason == "retries"


def _handler(services, listener=None):
    plan = dialplan()
    return make_handler(
        lambda agi: CallSession(plan, now=NOW),
        "/snd",
        fallback_queue="op",
        services=services,
        listener=listener,
    )


def test_runner_calls_the_service_and_says_digits_with_asterisk():
    seen = []

    def check(args):
        seen.append(args)
        return True

    record, outcome = drive(_handler({"codes.check": check}), ScriptedCaller(["1234"]))
    assert seen == [{"code": "1234"}]
    assert 'SAY DIGITS "1234" "0123456789*#"' in record.commands
    assert record.variables["NU_QUEUE"] == "op" and record.variables["NU_CTX_SAID"] == "code 1234"


def test_runner_turns_service_failures_into_results_not_crashes():
    def broken(args):
        raise RuntimeError("database down")

    def refusing(args):
        raise ServiceError("not_found")

    for service in (broken, refusing):
        record, outcome = drive(
            _handler({"codes.check": service}), ScriptedCaller(["1111", "2222", "3333"])
        )
        assert outcome.error is None
        assert record.variables["NU_QUEUE"] == "op" and record.variables["NU_REASON"] == "retries"
    record, outcome = drive(_handler({}), ScriptedCaller(["1111", "2222", "3333"]))
    assert record.variables["NU_REASON"] == "retries"


def test_listen_without_a_recogniser_goes_to_a_human():
    class ListenNode:
        def enter(self, session, node):
            return session.listen(session.p("main_menu"), ("anagrafe",))

        def answer(self, session, node, event):
            if isinstance(event, Heard):
                session.data["said"] = event.text
                return session.transfer_to("op", reason="speech")
            if isinstance(event, ListenFailed):  # the node that listens decides, as speech does
                return session.transfer_to("op", reason="speech_unavailable")
            return session.fallback("speech")

    register_behaviour(CheckCodeNode, ListenNode())
    try:
        record, _ = drive(_handler({}), ScriptedCaller([]))
        # no recogniser: the caller who asked to speak hears that a person takes over, and the
        # call record says why (it used to be a silent transfer counted as a broken prompt)
        assert record.variables["NU_REASON"] == "speech_unavailable"
        assert any(c.startswith('STREAM FILE "/snd/it/transferring"') for c in record.commands)
        heard = []

        def listener(agi, action):
            heard.append(action)
            return Heard("anagrafe", 0.9)

        record, _ = drive(_handler({}, listener), ScriptedCaller([]))
        assert heard == [Listen(heard[0].prompts, "it", ("anagrafe",), 6000)]
        assert record.variables["NU_REASON"] == "speech"
        assert record.variables["NU_CTX_SAID"] == "anagrafe"
    finally:
        register_behaviour(CheckCodeNode, CheckCode())
