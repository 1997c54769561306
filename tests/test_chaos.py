"""Chaos under load, small (issue 15): calls in flight through Kamailio on ``ivr up --nodes 2``
while node a's FastAGI service, then node a's Asterisk, is killed, then node a's Asterisk is
frozen (SIGSTOP: alive but silent, only Kamailio's probes can take it out).

The rig is bench/chaos.py's: the callers are one more Asterisk placing calls through Kamailio
and listening (``TALK_DETECT``) to what each caller hears. No call in flight on a surviving
node may hear dead air or be dropped; the calls of the killed node are the ones whose callers
heard the silence (the measure sees a dead node from the caller's side); new calls are answered
again after each fault.
"""

from __future__ import annotations

import pytest

from bench.chaos import format_result, run

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(900)]


def test_no_call_on_a_surviving_node_is_lost_when_fastagi_or_a_node_dies_or_freezes(tmp_path):
    results = run(
        tmp_path,
        calls=12,
        hold_s=20,
        ramp_s=6,
        dead_air_s=10,
        names=["FastAGI (node a)", "Asterisk node a", "Asterisk node a frozen"],
        say=lambda text: print(text, flush=True),
        caller_nodes=1,  # 6 dead calls: one callers' Asterisk hangs them up quickly enough
    )
    fastagi, node, frozen = results
    for result in results:
        assert result.in_flight >= 10, format_result(result)
        assert result.lost_on_survivors == 0, "\n".join(result.lost_details)
        assert result.recovery_s is not None, format_result(result)  # new calls answered
    assert fastagi.lost_with_node == 0 and fastagi.rescued == fastagi.in_flight
    # Kamailio spreads the calls over both nodes: some die with a, those on b are rescued
    for result in (node, frozen):
        assert result.lost_with_node > 0 and result.rescued > 0, format_result(result)
        assert result.failed_with_node == result.lost_with_node  # their callers heard it fail
        assert result.new_unanswered == 0, "\n".join(result.probe_details)
