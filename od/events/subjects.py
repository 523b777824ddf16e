"""The subjects and stream names of the contract, optionally under a namespace.

A namespace (``OD_NAMESPACE``) prefixes subjects and stream names so that several
installations or parallel tests can share one NATS server; with none, the subjects
are exactly the contract's.
"""

from __future__ import annotations

from dataclasses import dataclass

from od.events.model import AnyEvent, DealerChanged, FeedCompleted, VehicleChanged, VehicleObserved


@dataclass(frozen=True)
class Subjects:
    namespace: str = ""

    @property
    def _prefix(self) -> str:
        return f"{self.namespace}." if self.namespace else ""

    def subject(self, contract_subject: str) -> str:
        """``od.…`` as it is named on this installation's server."""
        return self._prefix + contract_subject

    def contract(self, subject: str) -> str:
        """The contract name of a subject seen on the wire (namespace removed)."""
        return subject.removeprefix(self._prefix)

    def stream(self, name: str) -> str:
        return f"{self.namespace.upper()}_{name}" if self.namespace else name

    def dealer_changed(self, dealer_id: str) -> str:
        return self.subject(f"od.dealer.changed.{dealer_id}")

    def vehicle_observed(self, dealer_id: str, source: str) -> str:
        return self.subject(f"od.vehicle.observed.{dealer_id}.{source}")

    def feed_completed(self, dealer_id: str, source: str) -> str:
        return self.subject(f"od.feed.completed.{dealer_id}.{source}")

    def vehicle_changed(self, dealer_id: str) -> str:
        return self.subject(f"od.vehicle.changed.{dealer_id}")

    def deadletter(self, consumer: str) -> str:
        return self.subject(f"od.deadletter.{consumer}")

    def jobs(self, dealer_id: str, job: str) -> str:
        """A job request on the work queue (``OD_JOBS``), for the `jobs` worker kind."""
        return self.subject(f"od.jobs.{dealer_id}.{job}")

    def for_event(self, event: AnyEvent) -> str:
        match event:
            case DealerChanged():
                return self.dealer_changed(event.dealer_id)
            case VehicleObserved():
                return self.vehicle_observed(event.dealer_id, event.source)
            case FeedCompleted():
                return self.feed_completed(event.dealer_id, event.source)
            case VehicleChanged():
                return self.vehicle_changed(event.dealer_id)
        raise TypeError(f"not an event: {type(event).__name__}")
