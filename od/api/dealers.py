"""``/v1/dealers``: public dealer records with their vehicle counts."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from od.api import store
from od.api.cursor import decode_cursor, encode_cursor
from od.api.problems import Problem
from od.api.routing import JSON, Operation, json_response, runtime
from od.api.vehicles import Cursor, Limit
from od.api.views import DealerView
from od.events.model import DealerId


class DealerQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Limit = 50
    cursor: Cursor | None = None


class DealerPath(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    dealer_id: DealerId


class DealerPage(msgspec.Struct, kw_only=True):
    items: list[DealerView]
    next_cursor: str | None


async def list_dealers(request: Request, query: DealerQuery) -> Response:
    identity = DealerQuery(limit=0)
    after = None
    if query.cursor is not None:
        (after,) = decode_cursor(query.cursor, tuple[str], scope="dealers", filters=identity)
    rows = await store.list_dealers(runtime(request).pool, after=after, limit=query.limit + 1)
    items, last = store.split_page(rows, query.limit)
    next_cursor = None if last is None else encode_cursor((last.dealer_id,), scope="dealers", filters=identity)
    return json_response(DealerPage(items=list(items), next_cursor=next_cursor))


async def get_dealer(request: Request, path: DealerPath) -> Response:
    dealer = await store.get_dealer(runtime(request).pool, path.dealer_id)
    if dealer is None:
        raise Problem(404, f"no dealer `{path.dealer_id}`")
    return json_response(dealer)


operations = [
    Operation(
        "GET", "/v1/dealers", list_dealers, "Dealers in `dealer_id` order, with vehicle counts",
        params=DealerQuery, responses={JSON: DealerPage}, tags=("dealers",),
    ),
    Operation(
        "GET", "/v1/dealers/{dealer_id}", get_dealer, "One dealer, with vehicle counts",
        params=DealerPath, responses={JSON: DealerView}, errors=(404,), tags=("dealers",),
    ),
]  # fmt: skip
