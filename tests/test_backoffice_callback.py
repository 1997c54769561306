"""Click-to-call's outcomes through real Asterisk (``[nu-backoffice-call]``): the staff
member's softphone answers, the citizen's phone (``[nu-test-elder]``) is busy or never answers;
a staff phone that is not registered dials nobody. And the pure mapping of ``DIALSTATUS``."""

from __future__ import annotations

import queue

import pytest

from ivr.backoffice import callback
from ivr.operators.rules import AccountSpec
from tests.softphone import Softphone


def test_dial_statuses_become_contact_outcomes():
    assert callback.outcome("ANSWER") == callback.ANSWERED
    assert callback.outcome("NOANSWER") == callback.NO_ANSWER
    assert callback.outcome("BUSY") == callback.BUSY
    assert callback.outcome("CANCEL") == callback.CANCELLED
    assert callback.outcome("NODIAL") == callback.FAILED
    assert callback.outcome("") == callback.FAILED
    key = callback.new_key(12)
    assert key.startswith("bo-12-") and key != callback.new_key(12)


@pytest.mark.asterisk
def test_busy_no_answer_and_an_unreachable_staff_phone(asterisk, operator_accounts):
    store, apply = operator_accounts
    secret = store.add(AccountSpec("223", "Carla", ("it",), (("tributi", 1),), username="carla"))
    store.add(AccountSpec("224", "Dario", ("it",), (("tributi", 1),), username="dario"))
    apply()
    connect = asterisk.instance.ami
    results: queue.Queue[str] = queue.Queue()

    def call(extension: str, number: str, ring_s: int = 5) -> str:
        callback.place(
            connect,
            request_id=7,
            code="12345678",
            extension=extension,
            dial=f"Local/{number}@nu-test-elder",
            ring_s=ring_s,
            record=results.put,
        )
        return results.get(timeout=90)

    with Softphone("223", secret, asterisk.instance.sip_port) as phone:
        phone.wait_registered()
        assert call("223", "3331234569") == callback.BUSY
        assert call("223", "3331234560", ring_s=3) == callback.NO_ANSWER
        # Dario's phone is not registered: Asterisk cannot ring it, nobody is dialled.
        assert call("224", "3331234563") == callback.STAFF_NO_ANSWER
