"""The switchboard directory through the real Asterisk: a caller keys the first letters of a
name, hears it spoken back, confirms, and a real staff softphone (baresip, registered with the
credentials the directory gave Asterisk) rings and answers; after hours the caller hears the
entry's hours and pressing 1 reaches its department's queue."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ivr.db import ready
from ivr.directory.audio import build_directory_audio
from ivr.directory.models import DirectoryEntry
from ivr.directory.phones import publish_phones
from ivr.directory.rules import EntryData
from ivr.directory.store import DirectoryStore
from ivr.service import build_server
from tests.softphone import Softphone

MONDAY_10 = datetime(2026, 11, 23, 10)
MONDAY_18 = datetime(2026, 11, 23, 18)
KEYED = [("choose_language", "1"), ("main_menu", "*"), ("directory_keys", "628")]


@pytest.fixture
def directory(asterisk) -> Iterator[tuple[DirectoryStore, DirectoryEntry]]:
    """Ufficio Matrimoni (extension 251, the registry's, open mornings) in the city database,
    its name spoken into Asterisk's sounds and its staff phone given to Asterisk."""
    engine = ready(asterisk.settings.database_url)
    store = DirectoryStore(engine)
    entry, _ = store.save(
        EntryData(
            "Ufficio Matrimoni",
            "anagrafe",
            aliases=("nozze",),
            extension="251",
            hours='mon-fri: ["08:30-12:30"]',
        ),
        asterisk.dialplan,
    )
    report = build_directory_audio(store.entries(), asterisk.dialplan, asterisk.instance.sounds_dir)
    assert report.failed == {}
    etc = asterisk.instance.etc_dir
    assert "1 staff phones live" in publish_phones(etc, store.staff_phones(), asterisk.instance.ami)
    yield store, entry
    with Session(engine) as db, db.begin():
        db.execute(delete(DirectoryEntry))
    publish_phones(etc, [], asterisk.instance.ami)


def serve(asterisk, now: datetime):
    settings = dataclasses.replace(asterisk.settings, redis_url="")
    return build_server(settings, clock=lambda zone: now.replace(tzinfo=zone)).start()


def test_a_keyed_name_rings_the_registered_staff_phone(asterisk, directory):
    store, entry = directory
    [phone_account] = store.staff_phones()
    server = serve(asterisk, MONDAY_10)
    try:
        with Softphone("251", phone_account.secret, asterisk.instance.sip_port) as phone:
            phone.wait_registered()
            mark = phone.mark()
            call = asterisk.place_call([*KEYED, ("directory_confirm", "1")])
            established = phone.wait_event("CALL_ESTABLISHED", timeout=60, since=mark)
            assert established.call_id
            assert call.wait_played(f"it/dir_{entry.id}")  # the name, spoken back
            assert call.events("NuQueueJoin") == []  # the staff phone, not a queue
            phone.hangup()
            call.wait_hangup()
            assert call.script_error is None
    finally:
        server.shutdown()


def test_after_hours_the_caller_hears_the_hours_and_1_reaches_the_department(asterisk, directory):
    _, entry = directory
    server = serve(asterisk, MONDAY_18)
    try:
        call = asterisk.place_call(
            [*KEYED, ("directory_confirm", "1"), ("directory_offer_department", "1")]
        )
        assert call.wait_queue_join(timeout=60) == "anagrafe"
        assert call.wait_played(f"it/dir_{entry.id}_hours")
        assert call.script_error is None
    finally:
        server.shutdown()
