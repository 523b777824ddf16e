"""RFC 9457 problem details: every error the API answers is ``application/problem+json``.

Handlers raise :class:`Problem`; the app's exception handlers turn it (and Starlette's own
404/405, and anything unexpected) into a response, so no handler formats an error itself.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from od.log import get_logger

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class InvalidParam(msgspec.Struct, kw_only=True):
    name: str
    reason: str


class ProblemDetails(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem; ``invalid-params`` names each offending parameter (RFC 9457 §3)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    invalid_params: list[InvalidParam] | None = msgspec.field(default=None, name="invalid-params")


class Problem(Exception):
    """Raise to answer with a problem; ``headers`` ride along (``Allow``, ``WWW-Authenticate``)."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        invalid_params: list[InvalidParam] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.details = ProblemDetails(
            title=HTTPStatus(status).phrase, status=status, detail=detail, invalid_params=invalid_params
        )
        self.headers = headers or {}

    @classmethod
    def bad_param(cls, name: str, reason: str, status: int = 400) -> Problem:
        return cls(
            status, f"invalid parameter `{name}`: {reason}", invalid_params=[InvalidParam(name=name, reason=reason)]
        )


_encoder = msgspec.json.Encoder()
# msgspec names the field as "... - at `$.name`" or "... field `name`".
_AT_FIELD = re.compile(r"`\$\.([^`\[]+)")
_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def from_validation_error(exc: msgspec.ValidationError, *, default_name: str) -> Problem:
    """A msgspec error about request parameters or a body, as a 400 naming the parameter."""
    message = str(exc)
    match = _AT_FIELD.search(message) or _NAMED_FIELD.search(message)
    name = match.group(1) if match else default_name
    reason = message.split(" - at `", 1)[0]
    if reason.startswith("Object contains unknown field"):
        reason = "unknown parameter"
    elif reason.startswith("Object missing required field"):
        reason = "required"
    return Problem.bad_param(name, reason)


def problem_response(details: ProblemDetails, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(details), status_code=details.status, headers=headers, media_type=PROBLEM_JSON)


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    details = exc.details
    if details.instance is None:
        details = msgspec.structs.replace(details, instance=request.url.path)
    return problem_response(details, exc.headers)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route 404, wrong method 405 with ``Allow``)."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    details = ProblemDetails(
        title=HTTPStatus(exc.status_code).phrase, status=exc.status_code, detail=detail, instance=request.url.path
    )
    return problem_response(details, dict(exc.headers or {}))


async def on_error(request: Request, exc: Exception) -> Response:
    log.error("api.unhandled", path=request.url.path, error=repr(exc), exc_info=exc)
    return problem_response(ProblemDetails(title="Internal Server Error", status=500, instance=request.url.path))
