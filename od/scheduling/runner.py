"""The ``jobs`` worker kind (`od worker --only jobs`): runs job requests from the work queue.

Per request: wait for a slot (dealers at once, jobs per dealer at once), claim the run in
``job_runs``, skip it if its host's circuit is open, run its executor with retries of
transient errors (exponential backoff with jitter, or the source's ``Retry-After``), record
the outcome, move the dealer's waiting runs on, ack. While a request waits or runs, the worker
heartbeats both JetStream (``in_progress``) and the run's row; a worker killed mid-job stops
both, so the request is redelivered and the next worker takes the stale run over and ends it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import msgspec
from nats.aio.msg import Msg
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from od import bus
from od.config import Settings
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.log import get_logger
from od.runtime import Runtime
from od.scheduling import breaker, dispatch, store
from od.scheduling.coalesce import Coalescer
from od.scheduling.executors import Executor, JobResult, registry
from od.scheduling.graph import JOBS, DealerGraph, Decision, JobType, check, dealer_graph
from od.scheduling.limits import DealerGate, HostLimits
from od.scheduling.store import Claim, Outcome, RunRef

log = get_logger(__name__)

STREAM = "OD_JOBS"
CONSUMER = "job-runner"


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """Worker kind ``jobs``."""
    await JobRunner(runtime, registry(runtime.settings)).run(stop)


class _CircuitOpen(Exception):
    pass


class Breakers:
    """The shared circuit breakers, read through a snapshot of the unhealthy hosts that
    :meth:`watch` refreshes every second: a healthy host costs no query per job. This worker's
    own changes show at once; other workers' within a second."""

    def __init__(self, runtime: Runtime, policy: breaker.Policy, refresh_s: float = 1.0) -> None:
        self.pool = runtime.pool
        self.policy = policy
        self.refresh_s = refresh_s
        self._unhealthy: dict[str, breaker.Breaker] = {}

    async def refresh(self) -> None:
        states = await store.breakers(self.pool)
        self._unhealthy = {host: b for host, b in states.items() if not b.healthy}

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.refresh_s)
            except TimeoutError:
                pass
            try:
                await self.refresh()
            except Exception as exc:  # keep the last snapshot; try again in a second
                log.warning("jobs.breakers_unread", error=repr(exc))

    def _note(self, host: str, b: breaker.Breaker) -> None:
        if b.healthy:
            self._unhealthy.pop(host, None)
        else:
            self._unhealthy[host] = b

    async def admit(self, host: str) -> tuple[bool, breaker.Breaker]:
        if host not in self._unhealthy:
            return True, breaker.CLOSED
        admitted, b = await store.breaker_admit(self.pool, host, self.policy)
        self._note(host, b)
        return admitted, b

    async def failed(self, host: str) -> breaker.Breaker:
        b = await store.breaker_failed(self.pool, host, self.policy)
        self._note(host, b)
        return b

    async def succeeded(self, host: str) -> None:
        if host in self._unhealthy:
            await store.breaker_succeeded(self.pool, host)
            self._note(host, breaker.CLOSED)


def _retryable(max_wait_s: float) -> retry_if_exception:
    """Transient errors only, and only when the source does not ask to wait longer than we would."""
    return retry_if_exception(
        lambda exc: isinstance(exc, TransientSourceError) and (exc.retry_after or 0.0) <= max_wait_s
    )


class _Wait:
    """The source's ``Retry-After`` when it gave one, else exponential backoff with jitter."""

    def __init__(self, settings: Settings) -> None:
        self._exponential = wait_exponential_jitter(
            initial=settings.jobs_retry_initial_s, max=settings.jobs_retry_max_s, jitter=settings.jobs_retry_initial_s
        )

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientSourceError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._exponential(state))


class _Heartbeats:
    """One task keeps alive every request the worker holds (``in_progress``), waiting for a slot
    or running, and every run it has claimed (one statement per beat)."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._held: dict[int, tuple[Msg, str | None]] = {}

    def hold(self, msg: Msg, run_id: str | None = None) -> None:
        self._held[id(msg)] = (msg, run_id)

    def drop(self, msg: Msg) -> None:
        self._held.pop(id(msg), None)

    async def run(self) -> None:
        runner = self.runner
        while True:
            await asyncio.sleep(runner.heartbeat_s)
            held = list(self._held.values())
            try:
                for msg, _ in held:
                    await msg.in_progress()
                runs = [run for _, run in held if run]
                if runs:
                    lost = set(runs) - await store.heartbeat(runner.pool, runs, runner.worker_id)
                    for run in lost:
                        log.warning("jobs.run_taken_over", run_id=run)
            except Exception as exc:  # a missed beat is retried at the next one
                log.warning("jobs.heartbeat_failed", error=repr(exc))


class JobRunner:
    def __init__(
        self,
        runtime: Runtime,
        executors: Mapping[str, Executor],
        *,
        table: Sequence[JobType] = JOBS,
        stream: str = STREAM,
        consumer: str = CONSUMER,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.pool = runtime.pool
        self.settings = settings
        self.executors = dict(executors)
        self.table = tuple(table)
        check(self.table)
        self.stream = runtime.subjects.stream(stream)
        self.consumer = consumer
        self.worker_id = uuid.uuid4().hex[:12]
        self.gate = DealerGate(settings.jobs_max_dealers, settings.jobs_max_per_dealer)
        self.hosts = HostLimits(settings.jobs_host_rate_per_s)
        self.breakers = Breakers(
            runtime,
            breaker.Policy(
                threshold=settings.jobs_breaker_failures,
                cooldown_s=settings.jobs_breaker_cooldown_s,
                trial_lease_s=settings.jobs_breaker_cooldown_s,
            ),
        )
        self.heartbeat_s = 20.0
        self.stale_after_s = 40.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._beats = _Heartbeats(self)
        self._claim = Coalescer(self._claim_many)
        self._plan = Coalescer(self._plan_many)
        self._publish = Coalescer(self._publish_many)
        self._finish = Coalescer(self._finish_many)

    async def run(self, stop: asyncio.Event) -> None:
        info = await self.runtime.nc.jetstream().consumer_info(self.stream, self.consumer)
        ack_wait = float(info.config.ack_wait or 30.0)
        # Beat three times per ack_wait; a row not renewed for two beats belongs to a dead worker
        # (its request is redelivered only after a whole ack_wait without a beat).
        self.heartbeat_s = ack_wait / 3
        self.stale_after_s = ack_wait * 2 / 3
        log.info("jobs.start", worker=self.worker_id, ack_wait_s=ack_wait, capacity=self.gate.capacity)
        consumer = bus.PullConsumer(
            self.runtime.nc, self.stream, self.consumer, self._on_batch, batch=self.gate.capacity, max_wait=1.0
        )
        await self.breakers.refresh()
        helpers = [asyncio.create_task(self.breakers.watch(stop)), asyncio.create_task(self._beats.run())]
        try:
            await consumer.run(stop)
        finally:
            for helper in helpers:
                helper.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_batch(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            task = asyncio.create_task(self._handle(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Fetch more only when a slot is free: waiting requests are held (and heartbeaten) here.
        while len(self._tasks) >= self.gate.capacity:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    async def _handle(self, msg: Msg) -> None:
        try:
            request = dispatch.decode_request(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await bus.publish_dead_letter(self.runtime.publisher, self.consumer, msg, f"not a job request: {exc}")
            return
        self._beats.hold(msg)
        try:
            async with self.gate.slot(request.dealer_id):
                await self._process(request, msg)
        except Exception as exc:  # Postgres away, say: try the request again later
            delay = bus.nak_delay(msg.metadata.num_delivered or 1)
            log.warning("jobs.request_failed", run_id=request.run_id, error=repr(exc), retry_in=delay)
            await msg.nak(delay=delay)
        finally:
            self._beats.drop(msg)

    async def _process(self, request: dispatch.JobRequest, msg: Msg) -> None:
        claim = await self._claim(request.ref)
        if claim.outcome == "busy":
            await msg.nak(delay=self.heartbeat_s * 2)
            return
        graph = dealer_graph(claim.platforms or (), self.table)
        waits_on_it = request.job in graph and bool(graph.dependants(request.job))
        if claim.outcome == "done":
            # Redelivered after its end: move its dependants on, in case the worker that ended it
            # died before it acked.
            if waits_on_it:
                await dispatch.advance(self.pool, self.runtime.publisher, {request.dealer_id: graph})
            await msg.ack()
            return
        self._beats.hold(msg, request.run_id)
        outcome = await self._execute(request, claim)
        # Publish the dependants it makes ready, then end it and settle them in one statement:
        # a crash in between leaves them waiting with their requests out (claimable), and this
        # run's request unacked (taken over once its heartbeat is stale).
        decided = await self._plan((request.dealer_id, graph, request.run_id, outcome.status)) if waits_on_it else None
        if decided and decided.ready:
            await self._publish(decided.ready)
        ended = await self._finish((request.run_id, outcome, decided.decisions if decided else {}))
        if ended:
            log.info(
                "jobs.run_ended",
                run_id=request.run_id,
                status=outcome.status,
                attempts=outcome.attempts,
                error=outcome.error,
            )
        else:
            log.warning("jobs.run_taken_over", run_id=request.run_id, status=outcome.status)
        await msg.ack()

    # Concurrent jobs share statements: see od.scheduling.coalesce.

    async def _claim_many(self, refs: list[RunRef]) -> list[Claim]:
        return await store.claim(self.pool, refs, self.worker_id, stale_after_s=self.stale_after_s)

    async def _plan_many(self, items: list[tuple[str, DealerGraph, str, str]]) -> list[dispatch.Plan]:
        graphs = {dealer: graph for dealer, graph, _, _ in items}
        plans = await dispatch.plan(self.pool, graphs, ending={run: status for _, _, run, status in items})
        return [plans.get(dealer, dispatch.NOTHING) for dealer, _, _, _ in items]

    async def _publish_many(self, batches: list[list[RunRef]]) -> list[None]:
        await dispatch.publish(self.runtime.publisher, [ref for batch in batches for ref in batch])
        return [None] * len(batches)

    async def _finish_many(self, items: list[tuple[str, Outcome, Mapping[str, Decision]]]) -> list[bool]:
        decisions = {run: d for _, _, settled in items for run, d in settled.items()}
        ended = await store.finish(self.pool, self.worker_id, [(run, o) for run, o, _ in items], decisions)
        return [run in ended for run, _, _ in items]

    async def _execute(self, request: dispatch.JobRequest, claim: Claim) -> Outcome:
        started = time.monotonic()
        timings: dict[str, float] = {}
        if claim.published_at is not None:
            timings["queue_s"] = round(max(0.0, (datetime.now(UTC) - claim.published_at).total_seconds()), 3)
        attempts = claim.attempts - 1  # the claim counted the first attempt ahead

        def outcome(
            status: str, *, host: str | None = None, error: str | None = None, result: JobResult | None = None
        ) -> Outcome:
            timings["run_s"] = round(time.monotonic() - started, 3)
            r = result or JobResult()
            return Outcome(
                status=status,  # type: ignore[arg-type]
                attempts=attempts,
                host=host,
                found=r.found,
                published=r.published,
                rejected=r.rejected,
                error=error,
                timings=timings,
            )

        executor = self.executors.get(request.job)
        if executor is None:
            return outcome("failed", error=f"no executor for job {request.job!r}")
        if claim.platforms is None:
            return outcome("failed", error=f"dealer {request.dealer_id!r} is unknown or deleted")
        host = executor.host(self.settings, claim.config)
        if host is not None:
            admitted, state = await self.breakers.admit(host)
            if not admitted:
                return outcome("skipped", host=host, error=_circuit_reason(host, state, self.breakers.policy))
        try:
            async for attempt in AsyncRetrying(
                retry=_retryable(self.settings.jobs_retry_max_s),
                wait=_Wait(self.settings),
                stop=stop_after_attempt(max(1, self.settings.jobs_attempts)),
                reraise=True,
            ):
                with attempt:
                    if host is not None and attempt.retry_state.attempt_number > 1:
                        admitted, state = await self.breakers.admit(host)
                        if not admitted:
                            raise _CircuitOpen(_circuit_reason(host, state, self.breakers.policy))
                    attempts += 1
                    result = await self._attempt(executor, request, host)
        except TransientSourceError as exc:
            return outcome("failed", host=host, error=f"{exc} (gave up after {attempts} attempts)")
        except (PermanentSourceError, _CircuitOpen) as exc:
            return outcome("failed", host=host, error=str(exc))
        except Exception as exc:
            log.exception("jobs.executor_crashed", run_id=request.run_id)
            return outcome("failed", host=host, error=f"{type(exc).__name__}: {exc}")
        return outcome("succeeded", host=host, result=result)

    async def _attempt(self, executor: Executor, request: dispatch.JobRequest, host: str | None) -> JobResult:
        await self.hosts.acquire(host)
        timeout = self.settings.jobs_timeout_s
        try:
            async with asyncio.timeout(timeout):
                result = await executor.run(self.runtime, request.dealer_id, request.run_id)
        except TimeoutError:
            if host is not None:
                await self.breakers.failed(host)
            raise TransientSourceError(host or request.job, f"no answer within {timeout:g}s") from None
        except TransientSourceError:
            if host is not None:
                await self.breakers.failed(host)
            raise
        if host is not None:
            await self.breakers.succeeded(host)
        return result


def _circuit_reason(host: str, state: breaker.Breaker, policy: breaker.Policy) -> str:
    reopens = breaker.reopens_at(state, policy)
    when = f"; next trial after {datetime.fromtimestamp(reopens, UTC):%Y-%m-%dT%H:%M:%SZ}" if reopens else ""
    return f"circuit open for {host} after {state.failures} consecutive failures{when}"
