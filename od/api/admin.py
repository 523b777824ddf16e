"""Admin endpoints for dealers, behind the bearer token: the same as ``od dealer upsert`` /
``od dealer delete`` (``od.admin``): publish ``DealerChanged``, wait for the projection.

200 means the dealers projection shows the change; 202 means it is on the log but no
projector applied it within ``wait`` seconds (it will be applied when a worker runs).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from od import admin
from od.api.problems import InvalidParam, Problem
from od.api.routing import JSON, Operation, json_response, runtime
from od.events import DealerChanged
from od.events.dealer_file import DealerFileError, parse_dealer

Wait = Annotated[float, msgspec.Meta(ge=0, le=30, description="seconds to wait for the projection (default 10)")]


class UpsertParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    wait: Wait = admin.DEFAULT_WAIT_S


class DeleteParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    dealer_id: str
    wait: Wait = admin.DEFAULT_WAIT_S


async def upsert_dealer(request: Request, params: UpsertParams, body: DealerChanged) -> Response:
    # `body` passed the event's own validation; the dealer-file rules add unknown fields
    # (a typo must not silently drop a setting) and platform settings, with the line.
    try:
        event = parse_dealer(await request.body(), source="body", fmt="json")
    except DealerFileError as exc:
        name = exc.field or "body"
        raise Problem(400, str(exc), invalid_params=[InvalidParam(name=name, reason=exc.reason)]) from None
    return _answer(await admin.publish_and_wait(runtime(request), event, wait=params.wait))


async def delete_dealer(request: Request, params: DeleteParams) -> Response:
    try:
        outcome = await admin.delete(runtime(request), params.dealer_id, wait=params.wait)
    except admin.UnknownDealer as exc:
        raise Problem(404, str(exc)) from None
    return _answer(outcome)


def _answer(outcome: admin.DealerChangeResult) -> Response:
    return json_response(
        outcome,
        status=200 if outcome.applied else 202,
        headers={"Location": f"/v1/dealers/{outcome.dealer_id}", "Cache-Control": "no-store"},
    )


operations = [
    Operation(
        "POST",
        "/v1/admin/dealers",
        upsert_dealer,
        "Create or update a dealer (publishes DealerChanged)",
        params=UpsertParams,
        body=DealerChanged,
        responses={JSON: admin.DealerChangeResult},
        auth=True,
        tags=("admin",),
        description="The body is a DealerChanged with `operation` `upsert`. Answers 200 once the dealers "
        "projection shows it, or 202 (`applied: false`) when no worker applied it within `wait` seconds.",
    ),
    Operation(
        "DELETE",
        "/v1/admin/dealers/{dealer_id}",
        delete_dealer,
        "Delete a dealer (publishes DealerChanged with operation delete)",
        params=DeleteParams,
        responses={JSON: admin.DealerChangeResult},
        errors=(404,),
        auth=True,
        tags=("admin",),
        description="Answers 200 once the dealers projection shows the dealer deleted, or 202 when no worker "
        "applied it within `wait` seconds; 404 for a dealer the projection does not know.",
    ),
]
