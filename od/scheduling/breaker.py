"""A circuit breaker per external host, as a pure state machine over plain values; the store
(``od.scheduling.store``) keeps each host's state in Postgres so every worker shares it.

    closed ──N consecutive failures──► open ──cool-down──► half_open ──success──► closed
                                        ▲                      │
                                        └──────failure─────────┘

While open, the host's jobs are skipped (recorded as ``skipped``, not ``failed``). Half-open
lets one trial run through at a time, under a lease, so a trial whose worker died does not
hold the host shut for ever. Times are seconds since the epoch, from the database's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class Policy:
    threshold: int
    """Consecutive failures that open the circuit."""
    cooldown_s: float
    """How long it stays open before a trial is let through."""
    trial_lease_s: float
    """How long one half-open trial may take before another is let through."""


@dataclass(frozen=True)
class Breaker:
    state: State = "closed"
    failures: int = 0
    """Consecutive failures (reset by a success)."""
    opened_at: float | None = None
    trial_until: float | None = None
    """Half-open: a trial run is out until then."""

    @property
    def healthy(self) -> bool:
        """Nothing to remember: the state a host without a stored row has."""
        return self == CLOSED


CLOSED = Breaker()


def admit(b: Breaker, now: float, policy: Policy) -> tuple[bool, Breaker]:
    """May a job for this host run now? Returns the answer and the new state."""
    if b.state == "closed":
        return True, b
    if b.state == "open":
        if b.opened_at is not None and now < b.opened_at + policy.cooldown_s:
            return False, b
        return True, replace(b, state="half_open", trial_until=now + policy.trial_lease_s)
    if b.trial_until is not None and now < b.trial_until:
        return False, b
    return True, replace(b, trial_until=now + policy.trial_lease_s)


def succeeded(b: Breaker) -> Breaker:
    return CLOSED


def failed(b: Breaker, now: float, policy: Policy) -> Breaker:
    """A transient failure of the host (a permanent one says nothing about the host's health)."""
    failures = b.failures + 1
    if b.state == "half_open" or (b.state == "closed" and failures >= policy.threshold):
        return Breaker(state="open", failures=failures, opened_at=now)
    return replace(b, failures=failures)


def reopens_at(b: Breaker, policy: Policy) -> float | None:
    """When an open circuit will let a trial through (for the reason recorded on skipped runs)."""
    if b.state != "open" or b.opened_at is None:
        return None
    return b.opened_at + policy.cooldown_s
