"""The back office by phone: the leave_request and request_status nodes (pure, on the engine),
the runner recording a voice message into the spool, and the backoffice.* services on a real
database — the spool keeping a request while the database is down, ingest storing it later
with the code the caller heard, the answer synthesised in the caller's language."""

from __future__ import annotations

import json
import struct
from datetime import datetime
from pathlib import Path

import pytest

from booking import codes
from ivr.agi.peer import ScriptedCaller, drive
from ivr.agi.runner import RecordingSpool, make_handler
from ivr.backoffice import spool
from ivr.backoffice.node import answer_prompt
from ivr.backoffice.phone_services import backoffice_services
from ivr.backoffice.rules import Category
from ivr.backoffice.store import CODE_FIRST, BackofficeStore
from ivr.db import make_engine
from ivr.flow.actions import (
    Ask,
    Digits,
    Hangup,
    Invoke,
    NoInput,
    Play,
    Played,
    Prompt,
    Record,
    Recorded,
    RecordFailed,
    Result,
    Saying,
    Transfer,
)
from ivr.flow.engine import CallSession
from ivr.flow.loader import parse_dialplan
from ivr.flow.services import ServiceError

TEXT = """
number: "020202"
languages: [it, en]
general_operator: op
departments:
  op: {names: {it: Operatore, en: Operator}, hours: always}
  rifiuti: {names: {it: Rifiuti, en: Waste}, hours: always}
nodes:
  leave: {type: leave_request, category: rifiuti_ingombranti, next: bye}
  status: {type: request_status, next: bye}
  bye: {type: hangup, prompts: [goodbye]}
  op: {type: transfer, department: op}
"""
NOW = datetime(2026, 11, 23, 10)
CALLER = "3331234567"
WASTE = Category("rifiuti_ingombranti", "rifiuti", "Ritiro ingombranti")


def session(start: str = "leave", language: str = "it") -> CallSession:
    plan, issues = parse_dialplan(TEXT.replace("nodes:", f"start: {start}\nnodes:"), "bo.yaml")
    assert issues == [], issues
    return CallSession(
        plan, now=NOW, language=language, caller={"number": CALLER, "call_id": "c-1"}
    )


def keys(action) -> list[str]:
    return [p.key if isinstance(p, Prompt) else p.value for p in action.prompts]


def finish(action, session):
    """Hear a last message to the end (a transfer or goodbye says something first)."""
    return session.feed(Played()) if isinstance(action, Play) else action


# -- leave_request, on the engine --------------------------------------------------------------


def test_a_voice_message_becomes_a_request_and_its_code_is_said_twice():
    s = session()
    record = s.start()
    assert isinstance(record, Record) and keys(record) == ["backoffice_leave_prompt"]
    invoke = s.feed(Recorded("nu-message-1.wav"))
    assert invoke == Invoke(
        "backoffice.leave",
        {
            "category": "rifiuti_ingombranti",
            "recording": "nu-message-1.wav",
            "number": CALLER,
            "language": "it",
            "call_id": "c-1",
        },
    )
    play = s.feed(Result(value={"code": "51234564"}))
    assert isinstance(play, Play)
    assert keys(play) == [
        "backoffice_request_left",
        "512",
        "345",
        "64",
        "booking_code_again",
        "512",
        "345",
        "64",
    ]
    assert all(p.kind == "digits" for p in play.prompts if isinstance(p, Saying))
    end = s.feed(Played())
    assert isinstance(end, Hangup) and keys(end) == ["goodbye"]


def test_nothing_said_is_asked_again_then_the_operator():
    s = session()
    s.start()
    for _ in range(2):
        again = s.feed(RecordFailed("nothing"))
        assert isinstance(again, Record)
        assert keys(again) == ["backoffice_nothing_recorded", "backoffice_leave_prompt"]
    end = finish(s.feed(RecordFailed("nothing")), s)
    assert isinstance(end, Transfer) and end.department == "op" and end.reason == "retries"


@pytest.mark.parametrize("reason", ["record", "no_spool", "prompt"])
def test_a_message_that_cannot_be_recorded_goes_to_a_person(reason):
    s = session()
    s.start()
    said = s.feed(RecordFailed(reason))
    assert isinstance(said, Play) and keys(said)[0] == "backoffice_unavailable"
    end = s.feed(Played())
    assert isinstance(end, Transfer) and end.department == "op"


def test_a_service_that_cannot_store_goes_to_a_person():
    s = session()
    s.start()
    s.feed(Recorded("nu-message-1.wav"))
    said = s.feed(Result(error="unavailable"))
    assert keys(said)[0] == "backoffice_unavailable"
    assert isinstance(s.feed(Played()), Transfer)


def test_a_leave_request_node_needs_its_category():
    _, issues = parse_dialplan(TEXT.replace(" category: rifiuti_ingombranti,", ""), "bo.yaml")
    assert any("needs 'category'" in str(i) for i in issues)


# -- request_status, on the engine -------------------------------------------------------------

CODE = "5123456" + codes.check_digit("5123456")


def test_status_and_answer_are_said_then_goodbye():
    s = session("status", language="en")
    ask = s.start()
    assert isinstance(ask, Ask) and keys(ask) == ["backoffice_enter_code"] and ask.max_digits == 9
    invoke = s.feed(Digits(CODE + "#"))
    assert invoke == Invoke("backoffice.status", {"code": CODE, "language": "en"})
    heard = s.feed(
        Result(value={"status": "solved", "department": "rifiuti", "answer": answer_prompt(7)})
    )
    assert isinstance(heard, Ask)
    assert keys(heard) == [
        "backoffice_status_solved",
        "backoffice_answer_is",
        "bo_answer_7",
        "backoffice_status_choice",
    ]
    assert heard.prompts[2] == Prompt("bo_answer_7", "en")
    end = s.feed(NoInput())
    assert isinstance(end, Hangup) and keys(end) == ["goodbye"]


def test_status_without_answer_then_the_department_operator():
    s = session("status")
    s.start()
    s.feed(Digits(CODE))
    heard = s.feed(Result(value={"status": "in_progress", "department": "rifiuti", "answer": ""}))
    assert keys(heard) == ["backoffice_status_in_progress", "backoffice_status_choice"]
    end = finish(s.feed(Digits("1")), s)
    assert isinstance(end, Transfer) and end.department == "rifiuti"


def test_a_mistyped_code_is_refused_without_a_lookup_and_unknown_ones_retried():
    s = session("status")
    s.start()
    wrong = CODE[:-1] + str((int(CODE[-1]) + 1) % 10)
    again = s.feed(Digits(wrong))
    assert isinstance(again, Ask) and keys(again) == [
        "backoffice_code_invalid",
        "backoffice_enter_code",
    ]
    assert isinstance(s.feed(Digits(CODE)), Invoke)
    again = s.feed(Result(error="not_found"))
    assert keys(again) == ["backoffice_not_found", "backoffice_enter_code"]
    s.feed(Digits(CODE))
    end = finish(s.feed(Result(error="not_found")), s)
    assert isinstance(end, Transfer) and end.department == "op" and end.reason == "retries"


def test_status_unavailable_goes_to_a_person():
    s = session("status")
    s.start()
    s.feed(Digits(CODE))
    said = s.feed(Result(error="unavailable"))
    assert keys(said)[0] == "backoffice_unavailable"
    assert isinstance(s.feed(Played()), Transfer)


# -- the runner records into the spool ---------------------------------------------------------


def wav(path: Path, seconds: float = 1.0) -> None:
    """A small 8 kHz WAV with a tone-ish signal (what RECORD FILE leaves)."""
    frames = int(8000 * seconds)
    data = b"".join(struct.pack("<h", 3000 if (i // 20) % 2 else -3000) for i in range(frames))
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data"
    path.write_bytes(header + struct.pack("<I", len(data)) + data)


class Speaker(ScriptedCaller):
    """Says a message when the IVR records: the file appears where Asterisk would write it."""

    def __init__(self, answers=(), *, speaks: bool = True, hangs_up: bool = False) -> None:
        super().__init__(answers, when_done="")
        self.speaks, self.hangs_up = speaks, hangs_up

    def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        if prompt.startswith("record:"):
            self.record_timeout_ms = timeout_ms
            if self.speaks:
                wav(Path(prompt[len("record:") :] + ".wav"))
            return "h" if self.hangs_up else ""
        return super().collect(prompt, max_digits, timeout_ms)


def _handler(services, spool_dir: Path | None, max_s: int = 60):
    plan = session().dialplan
    return make_handler(
        lambda agi: CallSession(plan, now=NOW, language="it", caller={"number": CALLER}),
        "/snd",
        fallback_queue="op",
        services=services,
        spool=RecordingSpool(str(spool_dir), spool_dir, max_s) if spool_dir else None,
    )


def test_the_runner_records_with_a_beep_and_the_city_limit(tmp_path):
    left = []

    def leave(args):
        left.append(args)
        assert (tmp_path / args["recording"]).stat().st_size > 44
        return {"code": CODE}

    caller = Speaker()
    record, outcome = drive(_handler({"backoffice.leave": leave}, tmp_path, max_s=30), caller)
    recording = [c for c in record.commands if c.startswith("RECORD FILE")]
    assert len(recording) == 1 and " BEEP " in recording[0] + " " and "30000" in recording[0]
    assert caller.record_timeout_ms == 30000
    assert [a["recording"] for a in left] == [p.name for p in tmp_path.glob("nu-message-*.wav")]
    assert isinstance(outcome.final, Hangup)
    assert f'SAY DIGITS "{CODE[:3]}" ""' in record.commands or any(
        CODE[:3] in c for c in record.commands if c.startswith("SAY DIGITS")
    )


def test_a_caller_who_hangs_up_after_speaking_leaves_the_request_all_the_same(tmp_path):
    left = []
    record, outcome = drive(
        _handler({"backoffice.leave": lambda args: left.append(args) or {"code": CODE}}, tmp_path),
        Speaker(hangs_up=True),
    )
    assert outcome.hung_up and len(left) == 1
    assert (tmp_path / left[0]["recording"]).is_file()


def test_the_runner_without_a_spool_or_a_message_hands_over(tmp_path):
    _, outcome = drive(_handler({}, None), Speaker())
    assert isinstance(outcome.final, Transfer) and outcome.final.department == "op"
    _, outcome = drive(_handler({}, tmp_path), Speaker(speaks=False))
    assert isinstance(outcome.final, Transfer) and outcome.final.reason == "retries"
    assert list(tmp_path.iterdir()) == []


# -- the services on the database, the spool, ingest -----------------------------------------


@pytest.fixture
def store(booking_url):
    engine = make_engine(booking_url)
    store = BackofficeStore(engine, clock=lambda: NOW)
    store.save_category(WASTE)
    yield store
    engine.dispose()


def down():
    raise ConnectionRefusedError("database down")


def leave_args(name: str = "nu-message-1.wav") -> dict:
    return {
        "category": "rifiuti_ingombranti",
        "recording": name,
        "number": CALLER,
        "language": "fr",
        "call_id": "c-1",
    }


def test_leave_stores_the_request_with_its_recording(store, tmp_path):
    services = backoffice_services(lambda: store, tmp_path, tmp_path / "sounds")
    code = services["backoffice.leave"](leave_args())["code"]
    assert codes.is_valid(code) and code[0] in CODE_FIRST
    (queued,) = store.queue()
    assert (queued.code, queued.recording, queued.source, queued.channel) == (
        code,
        "nu-message-1.wav",
        "phone",
        "phone",
    )
    assert (queued.language, queued.category, queued.number, queued.call_id) == (
        "fr",
        "rifiuti_ingombranti",
        CALLER,
        "c-1",
    )
    assert list(tmp_path.glob("request-*")) == []  # stored: nothing waits in the spool


def test_two_voice_messages_of_one_caller_are_two_requests(store, tmp_path):
    services = backoffice_services(lambda: store, tmp_path, tmp_path / "sounds")
    first = services["backoffice.leave"](leave_args("m1.wav"))["code"]
    second = services["backoffice.leave"](leave_args("m2.wav"))["code"]
    assert first != second
    assert sorted(r.recording for r in store.queue()) == ["m1.wav", "m2.wav"]


def test_the_database_down_the_caller_still_gets_a_code_and_ingest_keeps_it(store, tmp_path):
    services = backoffice_services(down, tmp_path, tmp_path / "sounds")
    answer = services["backoffice.leave"](leave_args())
    code = answer["code"]
    assert codes.is_valid(code) and answer["spooled"]
    (waiting,) = tmp_path.glob("request-*.json")
    assert json.loads(waiting.read_text())["code"] == code
    assert store.queue() == []
    saved = waiting.read_text()
    done = spool.ingest(store, tmp_path)
    assert (done.stored, done.waiting, done.refused) == (1, 0, 0)
    (queued,) = store.queue()
    assert (queued.code, queued.recording) == (code, "nu-message-1.wav")
    assert store.by_code(code).id == queued.id
    # a crash between storing and removing the file: storing it again stores it once
    waiting.write_text(saved)
    assert spool.ingest(store, tmp_path).stored == 1
    assert len(store.queue()) == 1


def test_ingest_with_the_database_still_down_keeps_everything(tmp_path):
    services = backoffice_services(down, tmp_path, tmp_path / "sounds")
    for i in range(2):
        services["backoffice.leave"](leave_args(f"m{i}.wav"))

    class Down:
        def create(self, *args, **kw):
            raise ConnectionRefusedError("still down")

    done = spool.ingest(Down(), tmp_path)  # type: ignore[arg-type]
    assert (done.stored, done.waiting) == (0, 2)
    assert len(list(tmp_path.glob("request-*.json"))) == 2


def test_a_refused_request_is_set_aside_and_the_caller_gets_a_person(store, tmp_path):
    services = backoffice_services(lambda: store, tmp_path, tmp_path / "sounds")
    with pytest.raises(ServiceError) as refused:
        services["backoffice.leave"]({**leave_args(), "category": "gone"})
    assert refused.value.code == "refused"
    assert len(list(tmp_path.glob("request-*.json.refused"))) == 1
    assert spool.ingest(store, tmp_path).stored == 0


def test_status_answers_the_status_and_the_answer_spoken_in_the_callers_language(store, tmp_path):
    sounds = tmp_path / "sounds"
    services = backoffice_services(lambda: store, tmp_path, sounds)
    code = services["backoffice.leave"](leave_args())["code"]
    status = services["backoffice.status"]
    assert status({"code": code, "language": "it"}) == {
        "status": "new",
        "department": "rifiuti",
        "answer": "",
    }
    request = store.by_code(code)
    store.set_answer(request.id, "Il ritiro è fissato per lunedì mattina.", "staff")
    store.move(request.id, "solved", "staff")
    heard = status({"code": code, "language": "en"})
    assert heard == {
        "status": "solved",
        "department": "rifiuti",
        "answer": f"bo_answer_{request.id}",
    }
    built = list((sounds / "en").glob(f"bo_answer_{request.id}.*"))
    assert built and all(f.stat().st_size > 1000 for f in built)
    with pytest.raises(ServiceError) as missing:
        status({"code": "5000000" + codes.check_digit("5000000"), "language": "it"})
    assert missing.value.code == "not_found"


def test_status_with_the_database_down_is_unavailable(tmp_path):
    services = backoffice_services(down, tmp_path, tmp_path / "sounds")
    with pytest.raises(ServiceError) as err:
        services["backoffice.status"]({"code": CODE, "language": "it"})
    assert err.value.code == "unavailable"


def test_the_admin_simulator_leaves_a_message_in_the_example_city():
    from ivr.admin.simulate import simulate
    from ivr.config import ROOT
    from ivr.flow.loader import load_dialplan

    city = load_dialplan(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
    moves = [
        {"t": "digits", "v": "1"},  # Italian
        {"t": "played"},  # welcome
        {"t": "digits", "v": "5"},  # waste collection
        {"t": "digits", "v": "2"},  # leave a request
        {"t": "recorded"},
        {"t": "result", "v": json.dumps({"code": CODE})},
    ]
    sim = simulate(city, moves, now=NOW)
    assert sim.error is None and sim.steps[-2].action_type == "Invoke"
    assert ("service", "backoffice.leave") in sim.steps[-2].fields
    assert [p.key for p in sim.steps[-1].pieces][:1] == ["backoffice_request_left"]
    silent = simulate(city, [*moves[:4], {"t": "norecord"}], now=NOW)
    assert [p.key for p in silent.steps[-1].pieces][:1] == ["backoffice_nothing_recorded"]
