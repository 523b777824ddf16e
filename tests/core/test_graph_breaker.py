"""The circuit breaker's state machine (the pure part; the shared store is tested in
tests/integration/test_scheduler_breaker.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from od.scheduling.breaker import CLOSED, Breaker, Policy, admit, failed, reopens_at, succeeded

POLICY = Policy(threshold=3, cooldown_s=60.0, trial_lease_s=30.0)


def test_opens_after_n_consecutive_failures() -> None:
    b = CLOSED
    for now in (1.0, 2.0):
        b = failed(b, now, POLICY)
        assert b.state == "closed"
    b = failed(b, 3.0, POLICY)
    assert b == Breaker(state="open", failures=3, opened_at=3.0)
    assert reopens_at(b, POLICY) == 63.0


def test_a_success_resets_the_count() -> None:
    b = failed(failed(CLOSED, 1.0, POLICY), 2.0, POLICY)
    b = succeeded(b)
    assert failed(failed(b, 3.0, POLICY), 4.0, POLICY).state == "closed"


def test_open_skips_then_half_opens_for_one_trial_then_closes_on_success() -> None:
    b = Breaker(state="open", failures=3, opened_at=100.0)
    assert admit(b, 159.0, POLICY) == (False, b)
    admitted, trial = admit(b, 160.0, POLICY)
    assert admitted and trial.state == "half_open" and trial.trial_until == 190.0
    # While the trial is out, other jobs of the host are still skipped...
    assert admit(trial, 170.0, POLICY) == (False, trial)
    # ...unless the trial's worker vanished and its lease ran out.
    again, renewed = admit(trial, 190.0, POLICY)
    assert again and renewed.trial_until == 220.0
    assert succeeded(renewed) == CLOSED
    assert admit(CLOSED, 0.0, POLICY) == (True, CLOSED)


def test_a_failed_trial_opens_again_with_a_fresh_cool_down() -> None:
    _, trial = admit(Breaker(state="open", failures=3, opened_at=0.0), 60.0, POLICY)
    b = failed(trial, 61.0, POLICY)
    assert b.state == "open" and b.opened_at == 61.0
    assert admit(b, 120.0, POLICY)[0] is False
    assert admit(b, 121.0, POLICY)[0] is True


EVENTS = st.lists(st.tuples(st.sampled_from(["admit", "ok", "fail"]), st.floats(0, 100)), max_size=40)


@given(EVENTS)
def test_invariants_over_any_history(events: list[tuple[str, float]]) -> None:
    b, now, streak = CLOSED, 0.0, 0
    for kind, dt in events:
        now += dt
        before = b
        if kind == "admit":
            admitted, b = admit(b, now, POLICY)
            if before.state == "closed":
                assert admitted and b == before
            if before.state == "open" and now < (before.opened_at or 0) + POLICY.cooldown_s:
                assert not admitted and b == before
            if admitted and before.state != "closed":
                assert b.state == "half_open" and b.trial_until == now + POLICY.trial_lease_s
        elif kind == "ok":
            b, streak = succeeded(b), 0
            assert b == CLOSED
        else:
            b, streak = failed(b, now, POLICY), streak + 1
            assert b.failures == before.failures + 1
            if before.state == "half_open":
                assert b.state == "open" and b.opened_at == now
        # Closed means fewer consecutive failures than the threshold, or never opened since.
        if b.state == "closed":
            assert b.failures < POLICY.threshold
        assert b.failures == streak
