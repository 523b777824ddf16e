"""One typed settings object, read from the environment once at the edge.

Nothing below the CLI reads ``os.environ``: everything receives a ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import msgspec

NATS_SYNC_PATTERN = r"^(default|always|[0-9]+(ms|s|m|h))$"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str | None = None
    """``OD_NATS_URL``; ``None`` means "start an embedded server" (demo only)."""
    database_url: str | None = None
    """``OD_DATABASE_URL``; ``None`` means "start an embedded server" (demo only)."""
    namespace: str = ""
    """``OD_NAMESPACE``: prefixes stream names and subjects so several installations
    (or parallel tests) can share one NATS server. Empty in production: subjects are
    then exactly the contract's ``od.…``."""
    api_token: str | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    indexnow_key: str = "od-indexnow-key-0000"
    indexnow_endpoint: str = "http://127.0.0.1:8081/indexnow"
    rebrandly_url: str = "http://127.0.0.1:8082"
    rebrandly_api_key: str | None = None
    rebrandly_domain: str = "rebrand.ly"
    geocoder_url: str = "http://127.0.0.1:8083"
    geocoder_provider: str = "nominatim"
    """Which geocoder speaks at ``geocoder_url`` (``nominatim``: ``GET /search?q=…&format=jsonv2``)."""
    geocoder_rate_per_s: float = 1.0
    """Geocoder requests per second (Nominatim's public service allows one)."""
    rebrandly_rate_per_s: float = 10.0
    """Short-link API requests per second."""
    rebrandly_retry_after_s: float = 60.0
    """Pause after a 429 from the short-link API that gave no Retry-After."""
    indexnow_flush_interval_s: float = 2.0
    """IndexNow: a batch is sent when full (10,000 URLs) or when its oldest change waited this long."""
    indexnow_retry_after_s: float = 600.0
    """IndexNow: pause after a 429 without Retry-After (the protocol asks for ~10 minutes)."""
    enrichment_concurrency: int = 8
    """Enrichment workers: messages handled at once per worker."""
    enrichment_max_attempts: int = 8
    """Enrichment workers: failed attempts of one message before it is dead-lettered."""
    enrichment_retry_base_s: float = 0.5
    """Enrichment workers: first retry delay, doubling per attempt (capped at 60 s)."""
    enrichment_http_timeout_s: float = 30.0
    """Enrichment workers: a whole request to an external API must finish within this."""
    homenet_url: str | None = None
    homenet_token: str | None = None
    fetch_timeout_s: float = 60.0
    """Fetchers: a whole HTTP request (connect, send, read) must finish within this."""
    fetch_attempts: int = 3
    """Fetchers: tries per page on a transient failure (timeout, 5xx, 429) before the run fails."""
    fetch_max_pages: int = 200
    """Fetchers: pages per listing walk (Dealer.com segment, site listing); hitting it fails the run."""
    fetch_batch: int = 500
    """Fetchers: observations per publish batch."""
    fetch_user_agent: str = "OpenDealerBot/0.1 (+https://github.com/open-dealer)"
    scrape_concurrency: int = 4
    """Dealer web sites: requests in flight per host."""
    scrape_rate_per_s: float = 10.0
    """Dealer web sites: requests started per second per host."""
    scrape_max_crawl_delay_s: float = 10.0
    """Dealer web sites: the longest robots.txt ``Crawl-delay`` honoured; a longer one is capped
    and logged (60 s would stretch a 1,000-page crawl over 17 hours, past every schedule)."""
    scrape_max_detail_pages: int = 5000
    jobs_max_dealers: int = 3
    """Job worker: dealers whose jobs run at once (per worker process)."""
    jobs_max_per_dealer: int = 2
    """Job worker: jobs of one dealer that run at once."""
    jobs_host_rate_per_s: float = 2.0
    """Job worker: job attempts started per second per external host."""
    jobs_attempts: int = 3
    """Job worker: tries of a job on a transient source error (backoff with jitter between)."""
    jobs_retry_initial_s: float = 5.0
    jobs_retry_max_s: float = 300.0
    jobs_timeout_s: float = 3600.0
    """Job worker: one attempt of a job longer than this is a transient failure."""
    jobs_breaker_failures: int = 5
    """Consecutive transient failures of a host that open its circuit."""
    jobs_breaker_cooldown_s: float = 300.0
    """How long an open circuit skips its host's jobs before letting a trial through."""
    jobs_retention_days: float = 30.0
    """Ended job runs older than this are deleted by the scheduler."""
    jobs_executors: str = ""
    """``job=module:attr,…`` replacing job executors (the demo's and the tests' fake sources)."""
    scheduler_interval_s: float = 15.0
    """How often `od scheduler` looks for due runs."""
    log_format: str = "auto"
    """``json``, ``console`` or ``auto`` (console on a terminal, JSON otherwise)."""
    log_level: str = "info"
    data_dir: Path = Path(".od")
    """Where the embedded servers keep their data."""
    max_clock_skew_s: float = 300.0
    """Events from the future by more than this are dead-lettered."""
    cors_origins: tuple[str, ...] = ()
    nats_sync: Annotated[str, msgspec.Meta(pattern=NATS_SYNC_PATTERN)] = "default"
    """``OD_NATS_SYNC``: when the embedded NATS fsyncs JetStream writes: ``default`` (the
    server's; a publish is acknowledged before it is on disk), ``always`` (before every ack) or a
    duration (``1s``, ``500ms``). A server we do not start has its own ``sync_interval``;
    docs/guarantees.md weighs the choice."""
    stream_replicas: int | None = None
    """``OD_STREAM_REPLICAS``: overrides every stream's ``num_replicas`` in ``streams.yaml``
    when ``od streams apply`` runs (3 on the compose cluster)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            raw = env.get("OD_" + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = raw
        if "cors_origins" in values:
            values["cors_origins"] = [o.strip() for o in str(values["cors_origins"]).split(",") if o.strip()]
        # strict=False lets "300" become a float and ".od" a Path, with errors naming the variable.
        try:
            return msgspec.convert(values, cls, strict=False, dec_hook=_path)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"configuration error: {_env_name(str(exc))}") from None

    def redacted(self) -> dict[str, object]:
        """The settings as a dict with every secret masked: safe to log or print."""
        out = msgspec.structs.asdict(self)
        for name in SECRET_FIELDS:
            if out.get(name):
                out[name] = "***"
        for name in ("nats_url", "database_url"):
            if out.get(name):
                out[name] = redact_url(str(out[name]))
        return out

    def replace(self, **changes: object) -> Settings:
        return msgspec.structs.replace(self, **changes)

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of an ``od`` child process (a worker, the API) on the same
        installation: this process's, with these settings' servers and namespace, warnings-only
        logs unless ``extra`` (more ``OD_*`` values) says otherwise."""
        env = {**os.environ, "OD_NAMESPACE": self.namespace, "OD_LOG_LEVEL": "warning"}
        for name, value in (("OD_NATS_URL", self.nats_url), ("OD_DATABASE_URL", self.database_url)):
            if value:
                env[name] = value
        return env | dict(extra or {})


def _path(type_: type, value: object) -> object:
    if type_ is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


SECRET_FIELDS = ("api_token", "rebrandly_api_key", "homenet_token")


def redact_url(url: str) -> str:
    """Mask the password of ``scheme://user:password@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def _env_name(message: str) -> str:
    # msgspec says "... - at `$.max_clock_skew_s`"; operators know the variable name.
    if "`$." in message:
        head, _, field = message.rpartition("`$.")
        return f"{head}OD_{field.rstrip('`').upper()}"
    return message
