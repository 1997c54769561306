"""A real softphone (baresip, tests/softphone.py) as an operator against the real test Asterisk:
it registers with an operator account's credentials, logs in to a queue with its code and answers a
citizen's call; a wrong password does not register."""

from __future__ import annotations

import secrets

import pytest

from ivr.asterisk.render import department_codes
from tests.softphone import Softphone, temporary_account

TEST_EXT = "190"


@pytest.fixture
def operator(asterisk):
    """A test operator account (extension, secret) allowed into the general operator's queue;
    gone after the test."""
    secret = secrets.token_urlsafe(12)
    with temporary_account(asterisk.instance, TEST_EXT, secret, [asterisk.general_queue]):
        yield TEST_EXT, secret


def test_operator_softphone_registers_logs_in_and_answers_a_call(asterisk, ivr_service, operator):
    ext, secret = operator
    queue = asterisk.general_queue
    code = department_codes(asterisk.dialplan)[queue]
    ivr_service()
    with Softphone(ext, secret, asterisk.instance.sip_port) as phone:
        phone.wait_registered()
        phone.dial(f"*11{code}")  # log in to the general operator's queue
        phone.wait_event("CALL_CLOSED", timeout=30)  # the code's call: a prompt, then hang-up
        assert any(m.endswith(f"/{ext}") for m in asterisk.queue_members(queue))

        mark = phone.mark()
        call = asterisk.place_call([("choose_language", "1"), ("main_menu", "9")])
        answered = phone.wait_answered_incoming(timeout=60, since=mark)
        assert answered.call_id
        assert call.wait_queue_join() == queue
        phone.hangup()
        phone.wait_event("CALL_CLOSED", since=mark)
        assert call.script_error is None


def test_wrong_password_does_not_register(asterisk, operator):
    ext, secret = operator
    with Softphone(ext, secret + "x", asterisk.instance.sip_port) as phone:
        assert phone.registration_failed()
