"""Bearer-token check for admin endpoints (``Authorization: Bearer $OD_API_TOKEN``).

Mark an :class:`od.api.routing.Operation` with ``auth=True`` and the app runs
:func:`require_admin` before its handler and documents the security scheme. The compare
is constant-time; with no token configured every admin call is refused.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from od.api.problems import Problem
from od.config import Settings

SCHEME = "bearerAuth"


def _challenge(error: str | None) -> dict[str, str]:
    value = 'Bearer realm="od"' + (f', error="{error}"' if error else "")
    return {"WWW-Authenticate": value}


def require_admin(request: Request, settings: Settings) -> None:
    """Raise a 401 problem unless the request carries the configured bearer token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "admin endpoint: send `Authorization: Bearer <token>`", headers=_challenge(None))
    expected = settings.api_token
    if not expected or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Problem(401, "invalid bearer token", headers=_challenge("invalid_token"))
