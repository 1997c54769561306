from ivr.queues.estimate import (
    QueueState,
    SaturationPolicy,
    estimate_wait_s,
    minutes_to_say,
    saturated,
)


def test_free_operator_means_no_wait():
    assert estimate_wait_s(1, QueueState(logged_in=2, available=1, aht_s=120)) == 0.0


def test_third_in_line_with_two_busy_operators():
    state = QueueState(logged_in=2, available=0, waiting=2, aht_s=120)
    assert estimate_wait_s(3, state) == 180.0
    assert minutes_to_say(180.0) == 3


def test_paused_operators_do_not_serve_and_nobody_means_no_estimate():
    assert estimate_wait_s(1, QueueState(logged_in=1, paused=1)) is None
    assert estimate_wait_s(1, QueueState()) is None


def test_default_aht_until_measured():
    assert estimate_wait_s(2, QueueState(logged_in=1, available=0)) == 360.0


def test_minutes_round_up_to_at_least_one():
    assert minutes_to_say(1) == 1
    assert minutes_to_say(61) == 2


def test_policy_thresholds():
    busy = QueueState(logged_in=1, available=0, waiting=3, aht_s=60)
    assert saturated(SaturationPolicy("cb", no_operator=True), busy) == "no_operator"
    assert saturated(SaturationPolicy("cb", max_waiting=2), busy) == "max_waiting"
    assert saturated(SaturationPolicy("cb", max_waiting=3), busy) is None
    assert saturated(SaturationPolicy("cb", max_wait_s=200), busy) == "max_wait"
    assert saturated(SaturationPolicy("cb", max_wait_s=240), busy) is None
    assert saturated(SaturationPolicy("cb", max_wait_s=10), QueueState()) == "max_wait"
    free = QueueState(logged_in=1, available=1)
    assert saturated(SaturationPolicy("cb", no_operator=True, max_waiting=0), free) is None
