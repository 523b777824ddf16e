"""Operations: one declaration per endpoint, from which both the Starlette route and its
OpenAPI description are made, so the two cannot drift.

A route module exposes ``operations: list[Operation]``; ``od.api.app`` lists the modules.
The handler is ``async def handler(request, params[, body]) -> Response``: ``params`` is the
operation's ``params`` Struct, already validated from the path and query string (an unknown
or repeated parameter is a 400 naming it; so is any parameter of an operation that takes
none), ``body`` the decoded ``body`` type when declared.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from od.api.auth import require_admin
from od.api.problems import Problem, from_validation_error
from od.runtime import Runtime

Handler = Callable[..., Awaitable[Response]]
JSON = "application/json"
_CONVERTOR = re.compile(r"{(\w+):\w+}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """Starlette path; convertors (``{vehicle_id:path}``) are dropped in the OpenAPI path."""
    handler: Handler
    summary: str
    params: type[msgspec.Struct] | None = None
    """Path and query parameters; declare with ``forbid_unknown_fields=True``."""
    body: Any = None
    """The JSON request body type (msgspec), if any."""
    responses: Mapping[str, Any] = field(default_factory=dict)
    """The success response's media types: each a msgspec type or a raw JSON Schema dict."""
    status: int = 200
    errors: tuple[int, ...] = ()
    """Problem statuses beyond the automatic ones (400 always, 401 with auth);
    304 is documented without a body."""
    auth: bool = False
    tags: tuple[str, ...] = ()
    description: str | None = None

    @property
    def openapi_path(self) -> str:
        return _CONVERTOR.sub(r"{\1}", self.path)

    def route(self) -> Route:
        op = self

        async def endpoint(request: Request) -> Response:
            request.scope["od.route"] = op.openapi_path
            if op.auth:
                require_admin(request, request.app.state.settings)
            args: list[Any] = []
            if op.params is not None:
                args.append(parse_params(request, op.params))
            elif request.query_params:
                raise Problem.bad_param(next(iter(request.query_params)), "unknown parameter")
            if op.body is not None:
                args.append(decode_body(await request.body(), op.body))
            return await op.handler(request, *args)

        endpoint.__name__ = self.handler.__name__
        return Route(self.path, endpoint, methods=[self.method])


def parse_params(request: Request, params: type[msgspec.Struct]) -> Any:
    raw: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in raw:
            raise Problem.bad_param(key, "given more than once")
        raw[key] = value
    for key, value in request.path_params.items():
        if key in raw:
            raise Problem.bad_param(key, "unknown parameter")
        raw[key] = value
    try:
        return msgspec.convert(raw, params, strict=False)
    except msgspec.ValidationError as exc:
        raise from_validation_error(exc, default_name="query") from None


def decode_body(data: bytes, body_type: Any) -> Any:
    try:
        return msgspec.json.decode(data, type=body_type)
    except msgspec.ValidationError as exc:
        raise from_validation_error(exc, default_name="body") from None
    except msgspec.DecodeError as exc:
        raise Problem.bad_param("body", f"not valid JSON: {exc}") from None


_encoder = msgspec.json.Encoder()


def json_response(
    value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, media_type: str = JSON
) -> Response:
    return Response(_encoder.encode(value), status_code=status, headers=headers, media_type=media_type)


def runtime(request: Request) -> Runtime:
    """The app's connections (Postgres pool, NATS, publisher, settings), opened by the lifespan."""
    rt: Runtime = request.app.state.runtime
    return rt
