"""Property-based checks of the whole API against its own /openapi.json (schemathesis):
generated valid and invalid requests to every operation never get a 5xx, and every
response matches the documented status codes, media types and schemas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api_fixtures import Api, add_dealer, add_vehicle, api, vin

__all__ = ["api"]

EXAMPLES = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def runner(url: str, strategy: Any, checks: list[Any]) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=url, checks=checks, timeout=10)

    return check


def fuzz(url: str) -> list[str]:
    """Runs in a thread (schemathesis is synchronous); the server keeps serving in the loop."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, checks in (
            (GenerationMode.POSITIVE, CHECKS),
            (GenerationMode.NEGATIVE, [*CHECKS, negative_data_rejection]),
        ):
            try:
                runner(url, operation.as_strategy(generation_mode=mode), checks)()
            except Unsatisfiable:
                pass  # no parameters, no body: nothing can be made invalid
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


@pytest.mark.timeout(120)
async def test_api_conforms_to_its_openapi(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    for n in range(3):
        await add_vehicle(db, "alpha", vin(n))
    failures = await asyncio.to_thread(fuzz, api.url)
    assert not failures, "\n\n".join(failures)
    async with api.get("/metrics") as resp:
        families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    answered = families["od_http_requests"].samples
    assert sum(s.value for s in answered if s.name.endswith("_total")) > 200  # it really ran
    assert not [s for s in answered if s.labels["status"].startswith("5")]
