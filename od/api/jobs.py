"""Job history and manual runs, behind the bearer token: the same as ``od jobs status`` and
``od jobs run`` (``od.scheduling``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from od.api.problems import Problem
from od.api.routing import JSON, Operation, json_response, runtime
from od.events.model import DealerId
from od.scheduling import store
from od.scheduling.graph import JOBS, Status
from od.scheduling.scheduler import NotInGraph, RunInProgress, UnknownDealer, run_now

JOB_NAMES = tuple(job.name for job in JOBS)
JobName = Annotated[str, msgspec.Meta(description="job type: " + ", ".join(JOB_NAMES))]


def _job(name: str, value: str | None) -> str | None:
    if value is not None and value not in JOB_NAMES:
        raise Problem.bad_param(name, f"unknown job type; known: {', '.join(JOB_NAMES)}")
    return value


class StatusParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    dealer: DealerId | None = None
    platform: JobName | None = None
    status: Status | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class JobRuns(msgspec.Struct, kw_only=True):
    items: list[store.JobRun]


class RunRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    dealer_id: DealerId
    job: JobName


class RunQueued(msgspec.Struct, kw_only=True):
    run_id: str
    dealer_id: str
    job: str
    cycle: str
    status: str = "queued"


async def job_status(request: Request, params: StatusParams) -> Response:
    runs = await store.history(
        runtime(request).pool,
        dealer_id=params.dealer,
        job=_job("platform", params.platform),
        status=params.status,
        limit=params.limit,
    )
    return json_response(JobRuns(items=runs), headers={"Cache-Control": "no-store"})


async def run_job(request: Request, body: RunRequest) -> Response:
    try:
        ref = await run_now(runtime(request), body.dealer_id, _job("job", body.job) or "")
    except UnknownDealer as exc:
        raise Problem(404, str(exc)) from None
    except NotInGraph as exc:
        raise Problem(422, str(exc)) from None
    except RunInProgress as exc:
        raise Problem(409, str(exc)) from None
    return json_response(
        RunQueued(run_id=ref.run_id, dealer_id=ref.dealer_id, job=ref.job, cycle=ref.cycle),
        status=202,
        headers={"Location": f"/v1/jobs/status?dealer={ref.dealer_id}&platform={ref.job}", "Cache-Control": "no-store"},
    )


operations = [
    Operation(
        "GET",
        "/v1/jobs/status",
        job_status,
        "Job run history, newest first",
        params=StatusParams,
        responses={JSON: JobRuns},
        auth=True,
        tags=("jobs",),
        description="Filter by `dealer`, `platform` (job type) and `status` (waiting, queued, running, "
        "succeeded, failed, blocked, skipped).",
    ),
    Operation(
        "POST",
        "/v1/jobs/run",
        run_job,
        "Queue a manual run of one dealer's job now",
        body=RunRequest,
        responses={JSON: RunQueued},
        status=202,
        errors=(404, 409, 422),
        auth=True,
        tags=("jobs",),
        description="Runs outside the dealer's cycle and without waiting for prerequisites. 404: unknown "
        "dealer; 422: the dealer's platforms call for no such job; 409: that job is already queued or running.",
    ),
]
