"""IndexNow pings (``od worker --only indexnow``): every public change of a vehicle submits its
page and the sitemap to ``OD_INDEXNOW_ENDPOINT``, in batches of up to 10,000 distinct URLs per
host (see :mod:`od.enrichment.batching`).

A change's message is acknowledged only once the request carrying its URLs was accepted
(200/202). A 429 pauses every submission for its Retry-After (the protocol asks for about ten
minutes) and redelivers the changes then; 400/403/422 (and any other refusal) mean the key,
the key file or the host is misconfigured: logged as an error, counted, and the changes are
dead-lettered with the reason (replay them once fixed) instead of being retried in a loop.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from typing import Literal

import aiohttp
import msgspec
from nats.aio.msg import Msg

from od import bus
from od.enrichment.batching import MAX_URLS, Batch, Batcher, ChangeRef, change_urls, host_of, key_location
from od.enrichment.consumer import add_counts, dead_letter
from od.enrichment.http import TRANSIENT_HTTP_ERRORS, client_session, is_transient_status, parse_retry_after
from od.events import EventDecodeError, VehicleChanged, decode_event
from od.events.codec import REGISTRY
from od.events.model import ChangedVehicleId, ChangeKind
from od.log import get_logger
from od.runtime import Runtime

log = get_logger(__name__)

CONSUMER = "indexnow"
QUIET_S = 0.5
"""A batch also goes when no change came for this long (the backlog is drained)."""
KEY_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,128}$")

Verdict = Literal["accepted", "rate_limited", "config_error", "transient"]


class Submission(msgspec.Struct):
    host: str
    key: str
    keyLocation: str
    urlList: list[str]


class ChangeView(msgspec.Struct):
    """The few fields IndexNow reads of a current-version ``VehicleChanged``: a tenth of the
    cost of decoding the whole record, which is most of this worker's time."""

    type: str
    version: int
    vehicle_id: ChangedVehicleId  # the event's own limits: what the full decoder refuses, so does this
    change: ChangeKind
    changed_fields: list[str] = []


_VIEW = msgspec.json.Decoder(ChangeView)
_CURRENT = REGISTRY.current_version("VehicleChanged")


def read_change(data: bytes) -> ChangeRef | None:
    """The change a message carries (``None``: another event type). Anything but a current
    ``VehicleChanged`` goes through the full versioned decoder, which upcasts old versions
    and raises :class:`EventDecodeError` for what is not an event."""
    try:
        view = _VIEW.decode(data)
    except msgspec.DecodeError:
        view = None
    if view is not None and view.type == "VehicleChanged" and view.version == _CURRENT:
        return view
    event = decode_event(data)
    return event if isinstance(event, VehicleChanged) else None


class IndexNowWorker:
    def __init__(self, runtime: Runtime, session: aiohttp.ClientSession) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self._session = session
        self._endpoint = settings.indexnow_endpoint
        self._base = settings.public_base_url
        self._host = host_of(settings.public_base_url)
        self._key = settings.indexnow_key
        interval = settings.indexnow_flush_interval_s
        self._batcher: Batcher[Msg] = Batcher(MAX_URLS, interval, quiet=min(QUIET_S, interval))
        self._send_lock = asyncio.Lock()
        self._paused_until = 0.0
        self.counts: Counter[str] = Counter()

    async def on_messages(self, msgs: list[Msg]) -> None:
        """Batch handler for the pull consumer: buffer, and send the batches that filled up."""
        now = time.monotonic()
        ready: list[Batch[Msg]] = []
        for msg in msgs:
            try:
                change = read_change(msg.data)
            except EventDecodeError as exc:
                await dead_letter(self._runtime, CONSUMER, msg, str(exc))
                self.counts["dead_lettered"] += 1
                continue
            urls = change_urls(change, self._base) if change is not None else ()
            if not urls:
                await msg.ack()
                self.counts["done"] += 1
                self.counts["not_public"] += 1
            elif (pause := self._paused_until - now) > 0:
                await msg.nak(delay=pause)
                self.counts["deferred"] += 1
            else:
                ready.extend(self._batcher.add(msg, self._host, urls, now))
        for batch in ready:
            await self._send(batch)
        await self._save_counts()

    async def tick(self) -> None:
        """Send the batches that waited long enough."""
        for batch in self._batcher.due(time.monotonic()):
            await self._send(batch)
        await self._save_counts()

    async def flush(self) -> None:
        """Send everything buffered (on shutdown)."""
        for batch in self._batcher.drain():
            await self._send(batch)
        await self._save_counts()

    async def _send(self, batch: Batch[Msg]) -> None:
        async with self._send_lock:
            urls = list(batch.urls)
            verdict, detail, delay = await self._post(batch.host, urls)
            self.counts[f"requests_{verdict}"] += 1
            if verdict == "accepted":
                for msg in batch.tokens:
                    await msg.ack()
                self.counts["done"] += len(batch.tokens)
                self.counts["urls_submitted"] += len(urls)
                log.info("indexnow.accepted", host=batch.host, urls=len(urls), changes=len(batch.tokens))
            elif verdict == "rate_limited":
                self._paused_until = max(self._paused_until, time.monotonic() + delay)
                for msg in batch.tokens:
                    await msg.nak(delay=delay)
                self.counts["deferred"] += len(batch.tokens)
                log.warning("indexnow.rate_limited", host=batch.host, urls=len(urls), retry_in=delay)
            elif verdict == "config_error":
                log.error(
                    "indexnow.config_error",
                    detail=detail,
                    endpoint=self._endpoint,
                    host=batch.host,
                    key_location=key_location(self._base, self._key),
                    hint="check OD_INDEXNOW_KEY, that the key location serves exactly the key, "
                    "and that OD_PUBLIC_BASE_URL is the site's public address; then replay the dead letters",
                )
                self.counts["config_errors"] += 1
                reason = f"IndexNow refused the batch: {detail}"
                await asyncio.gather(*(dead_letter(self._runtime, CONSUMER, m, reason) for m in batch.tokens))
                self.counts["dead_lettered"] += len(batch.tokens)
            else:
                await self._retry(batch.tokens, detail)

    async def _retry(self, msgs: list[Msg], detail: str) -> None:
        settings = self._runtime.settings
        for msg in msgs:
            attempts = msg.metadata.num_delivered
            if attempts >= settings.enrichment_max_attempts:
                await dead_letter(self._runtime, CONSUMER, msg, f"gave up after {attempts} attempts: {detail}")
                self.counts["dead_lettered"] += 1
            else:
                await msg.nak(delay=bus.nak_delay(attempts, base=settings.enrichment_retry_base_s))
                self.counts["retried"] += 1
        log.warning("indexnow.retry", changes=len(msgs), reason=detail)

    async def _post(self, host: str, urls: list[str]) -> tuple[Verdict, str, float]:
        body = msgspec.json.encode(Submission(host, self._key, key_location(self._base, self._key), urls))
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self._session.post(self._endpoint, data=body, headers=headers) as r:
                status, text, retry_after = r.status, await r.text(errors="replace"), r.headers.get("Retry-After")
        except TRANSIENT_HTTP_ERRORS as exc:
            return "transient", f"IndexNow endpoint unreachable: {exc!r}", 0.0
        detail = f"{status} {text[:300]}".strip()
        if status in (200, 202):
            return "accepted", detail, 0.0
        if status == 429:
            delay = parse_retry_after(retry_after, default=self._runtime.settings.indexnow_retry_after_s)
            return "rate_limited", detail, delay
        if is_transient_status(status):
            return "transient", detail, 0.0
        return "config_error", detail, 0.0

    async def _save_counts(self) -> None:
        counts, self.counts = self.counts, Counter()  # taken before the await: ticks run meanwhile
        await add_counts(self._runtime.pool, CONSUMER, counts)


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """Worker kind ``indexnow``: pings for ``VehicleChanged`` on ``OD_CHANGES``."""
    settings = runtime.settings
    if not KEY_PATTERN.match(settings.indexnow_key):
        log.error("indexnow.disabled", reason="OD_INDEXNOW_KEY must be 8-128 characters of A-Z, a-z, 0-9 and '-'")
        await stop.wait()
        return
    interval = settings.indexnow_flush_interval_s
    async with client_session(settings, limit=4) as session:
        worker = IndexNowWorker(runtime, session)

        async def ticker() -> None:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), min(QUIET_S, interval) / 4)
                except TimeoutError:
                    try:
                        await worker.tick()
                    except Exception as exc:  # Postgres or NATS away: the next tick tries again
                        log.warning("indexnow.tick_failed", error=repr(exc))

        stream = runtime.subjects.stream("OD_CHANGES")
        consumer = bus.InboxPullConsumer(
            runtime.nc, stream, CONSUMER, worker.on_messages, batch=1000, max_wait=min(QUIET_S, interval) / 2
        )
        try:
            await asyncio.gather(consumer.run(stop), ticker())
        finally:
            await worker.flush()
