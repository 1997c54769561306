"""The back office by phone through a real Asterisk 22: a voice message left in the waste
department's menu becomes a request in the work queue, with its recording, and its code is
read back twice; once staff solved it and wrote an answer, the citizen keys the code and hears
"solved" and the answer, synthesised by espeak-ng in their language.

The FastAGI service is the product's own (``build_server``) with the ``backoffice.*`` services
on a real SQLite database; Asterisk records into the instance's back-office spool (its path in
the chroot), which the service reads from the host. The caller's voice is a sound file the
caller's side plays once the IVR records (tests/asterisk_harness.py).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime
from pathlib import Path

import pytest

from ivr.backoffice.phone_services import backoffice_services
from ivr.backoffice.rules import Category
from ivr.backoffice.spool import ingest
from ivr.backoffice.store import BackofficeStore
from ivr.db import make_engine, migrate
from ivr.service import build_server
from ivr.speech.listener import _listen_to as heard

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)
CALLER = "3331234567"
WASTE = Category("rifiuti_ingombranti", "rifiuti", "Ritiro ingombranti")
ANSWER = "Il ritiro dei mobili è fissato per lunedì mattina."


def clock(zone):
    return MONDAY_10.replace(tzinfo=zone)


@pytest.fixture(scope="module")
def store(tmp_path_factory, asterisk_session):
    url = f"sqlite:///{tmp_path_factory.mktemp('backoffice') / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    store = BackofficeStore(engine)
    store.save_category(WASTE)
    yield store
    engine.dispose()


@pytest.fixture(scope="module")
def settings(asterisk_session, store):
    instance = asterisk_session.instance
    return dataclasses.replace(
        instance.backoffice_settings(asterisk_session.settings),
        redis_url="",
        database_url=str(store.engine.url),
    )


class Database:
    """The store as the services reach it; ``up = False``: the database is down."""

    def __init__(self, store: BackofficeStore) -> None:
        self.store, self.up = store, True

    def __call__(self) -> BackofficeStore:
        if not self.up:
            raise ConnectionRefusedError("the database is down")
        return self.store


@pytest.fixture(scope="module")
def database(store):
    return Database(store)


@pytest.fixture(scope="module")
def service(asterisk_session, settings, database):
    services = backoffice_services(
        database,
        Path(settings.backoffice_spool_dir),
        asterisk_session.instance.sounds_dir,
    )
    server = build_server(settings, clock=clock, services=services).start()
    yield server
    server.shutdown()


@pytest.fixture
def city(asterisk, service, database):
    database.up = True
    yield asterisk
    database.up = True
    deadline = time.monotonic() + 10
    while service.active_calls and time.monotonic() < deadline:
        time.sleep(0.05)


def to_waste_menu(choice: str) -> list[tuple[str, str]]:
    """Italian, waste collection (5), then ``choice`` in the waste department's menu."""
    return [("choose_language", "1"), ("main_menu", "5"), ("waste_menu", choice)]


def test_a_voice_message_becomes_a_request_and_the_caller_later_hears_it_solved(
    city, store, settings, asterisk_session, caplog
):
    caplog.set_level(logging.DEBUG)
    # a long message (the test answering machine's greeting): the first words meet the beep
    voice = f"@{asterisk_session.settings.asterisk_sounds_dir}/test/machine"
    call = city.place_call(
        [*to_waste_menu("2"), ("backoffice_leave_prompt", voice)], caller_id=CALLER
    )
    call.wait_played("booking_code_again", timeout=60)
    call.wait_hangup(timeout=60)
    (request,) = store.queue()
    assert (request.category, request.source, request.number, request.language) == (
        "rifiuti_ingombranti",
        "phone",
        CALLER,
        "it",
    )
    recording = Path(settings.backoffice_spool_dir) / request.recording
    seconds, silent = heard(recording)
    assert seconds > 1 and not silent  # the caller's message (Asterisk trims the silence)
    assert list(Path(settings.backoffice_spool_dir).glob("request-*")) == []  # nothing waits
    # the code, read twice: between the two prompts, and again after the second
    assert call.said_between("backoffice_request_left", "booking_code_again") == list(request.code)
    names = [p.name for p in call.played()]
    after = names[names.index("booking_code_again") :]
    assert [n for n in after if n.isdigit()][: len(request.code)] == list(request.code)
    assert "goodbye" in names

    store.set_answer(request.id, ANSWER, "staff")
    store.move(request.id, "solved", "staff")
    again = city.place_call(
        [*to_waste_menu("3"), ("backoffice_enter_code", request.code + "#")], caller_id=CALLER
    )
    again.wait_played("backoffice_status_solved", timeout=60)
    answer = again.wait_played(f"bo_answer_{request.id}", timeout=30)
    assert answer.prompt == f"it/bo_answer_{request.id}"
    again.wait_hangup(timeout=60)  # no key at the choice: goodbye
    assert "goodbye" in [p.name for p in again.played()]
    built = asterisk_session.instance.sounds_dir / "it"
    assert list(built.glob(f"bo_answer_{request.id}.*"))
    # our log lines never carry the number, the code typed or the recording's name
    assert f"back office: request {request.id} created" in caplog.text  # the lines were seen
    for secret in (CALLER, request.code, request.recording):
        assert secret not in caplog.text


def test_with_the_database_down_the_caller_still_hears_a_code_kept_for_later(
    city, store, settings, asterisk_session, database
):
    database.up = False
    before = {r.id for r in store.queue()}
    voice = f"@{asterisk_session.settings.asterisk_sounds_dir}/test/machine"
    call = city.place_call(
        [*to_waste_menu("2"), ("backoffice_leave_prompt", voice)], caller_id="3330000009"
    )
    call.wait_played("booking_code_again", timeout=60)
    call.wait_hangup(timeout=60)
    code = "".join(call.said_between("backoffice_request_left", "booking_code_again"))
    spool = Path(settings.backoffice_spool_dir)
    assert (spool / f"request-{code}.json").is_file()
    assert {r.id for r in store.queue()} == before
    database.up = True
    done = ingest(store, spool)
    assert (done.stored, done.waiting) == (1, 0)
    request = store.by_code(code)
    assert request is not None and request.number == "3330000009"
    assert (spool / request.recording).is_file()
