"""How a source failed, so the scheduler knows whether to retry, back off or give up."""

from __future__ import annotations


class SourceError(Exception):
    """A pull did not complete; ``reason`` is one line for run history and operators."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


class TransientSourceError(SourceError):
    """Timeouts, 5xx, 429, truncated or garbled answers: worth retrying with backoff."""

    def __init__(self, host: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(host, reason)
        self.retry_after = retry_after


class PermanentSourceError(SourceError):
    """401/403, bad configuration, a page cap hit: retrying will not help; fail fast."""
