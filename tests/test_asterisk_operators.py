"""Operator accounts through real Asterisk and a real softphone (baresip): an account made in the
city database and published the admin's way registers with its own secret, may log in only to
the departments it serves, takes a call; a rotated secret voids the old one; a disabled account
can no longer register and is out of its queues at once."""

from __future__ import annotations

from ivr.asterisk.render import department_codes
from ivr.operators.rules import AccountSpec
from tests.softphone import Softphone


def _queue_of(asterisk, department: str) -> str:
    return asterisk.dialplan.departments[department].queue


def test_an_account_registers_with_its_own_secret_and_logs_in_where_it_serves(
    asterisk, ivr_service, operator_accounts
):
    store, apply = operator_accounts
    general = asterisk.dialplan.general_operator
    other = next(d for d in asterisk.dialplan.departments if d != general)
    secret = store.add(AccountSpec("201", "Anna Rossi", ("it", "en"), ((general, 1),)))
    other_secret = store.add(AccountSpec("202", "Luca Bianchi", ("it",), ((other, 2),)))
    assert secret != other_secret
    apply()
    codes = department_codes(asterisk.dialplan)
    queue = _queue_of(asterisk, general)
    ivr_service()
    with Softphone("201", other_secret, asterisk.instance.sip_port) as wrong:
        assert wrong.registration_failed()  # another operator's secret is not theirs
    with Softphone("201", secret, asterisk.instance.sip_port) as phone:
        phone.wait_registered()
        mark = phone.mark()
        phone.dial(f"*11{codes[_queue_of(asterisk, other)]}")  # not a department they serve
        phone.wait_event("CALL_CLOSED", timeout=30, since=mark)
        refused = asterisk.queue_members(_queue_of(asterisk, other))
        assert not any(m.endswith("/201") for m in refused)
        mark = phone.mark()
        phone.dial(f"*11{codes[queue]}")
        phone.wait_event("CALL_CLOSED", timeout=30, since=mark)
        assert any(m.endswith("/201") for m in asterisk.queue_members(queue))

        mark = phone.mark()
        call = asterisk.place_call([("choose_language", "1"), ("main_menu", "9")])
        phone.wait_answered_incoming(timeout=60, since=mark)
        assert call.wait_queue_join() == queue
        phone.hangup()
        assert call.script_error is None


def test_rotating_voids_the_old_secret_and_disabling_stops_the_operator_at_once(
    asterisk, operator_accounts
):
    store, apply = operator_accounts
    general = asterisk.dialplan.general_operator
    queue = _queue_of(asterisk, general)
    old = store.add(AccountSpec("203", "Sara Neri", ("it",), ((general, 1),)))
    apply()
    new = store.rotate("203")
    apply("rotate 203")
    with Softphone("203", old, asterisk.instance.sip_port) as phone:
        assert phone.registration_failed()
    with Softphone("203", new, asterisk.instance.sip_port) as phone:
        phone.wait_registered()
        mark = phone.mark()
        phone.dial(f"*11{department_codes(asterisk.dialplan)[queue]}")
        phone.wait_event("CALL_CLOSED", timeout=30, since=mark)
        assert any(m.endswith("/203") for m in asterisk.queue_members(queue))

        store.set_enabled("203", False)
        result = apply("disable 203")
        assert "203" in result.reload_output  # taken out of the queue by the publication
        assert not any(m.endswith("/203") for m in asterisk.queue_members(queue))
    with Softphone("203", new, asterisk.instance.sip_port) as phone:
        assert phone.registration_failed()


def test_each_caller_reaches_the_operator_who_speaks_their_language_when_both_are_free(
    asterisk, ivr_service, operator_accounts
):
    store, apply = operator_accounts
    general = asterisk.dialplan.general_operator
    queue = _queue_of(asterisk, general)
    secrets = {
        "211": store.add(AccountSpec("211", "Giulia Conti", ("it",), ((general, 1),))),
        "212": store.add(AccountSpec("212", "Mary Jones", ("en",), ((general, 1),))),
    }
    apply()
    ivr_service()
    code = department_codes(asterisk.dialplan)[queue]
    with (
        Softphone("211", secrets["211"], asterisk.instance.sip_port) as italian,
        Softphone("212", secrets["212"], asterisk.instance.sip_port) as english,
    ):
        for phone in (italian, english):
            phone.wait_registered()
            mark = phone.mark()
            phone.dial(f"*11{code}")  # into the queue and its language twins
            phone.wait_event("CALL_CLOSED", timeout=30, since=mark)
        assert {m.rsplit("/", 1)[1] for m in asterisk.queue_members(f"{queue}_en")} >= {
            "211",
            "212",
        }
        # English first, then Italian: each time both operators are free.
        for language_key, phone, ext in (("2", english, "212"), ("1", italian, "211")):
            mark = phone.mark()
            call = asterisk.place_call([("choose_language", language_key), ("main_menu", "9")])
            assert call.wait_operator(timeout=60)["MemberName"] == ext
            phone.wait_answered_incoming(timeout=30, since=mark)
            phone.hangup()
            phone.wait_event("CALL_CLOSED", timeout=30, since=mark)
            call.wait_hangup()
            assert call.script_error is None
