"""OpenAPI 3.1 generated from the operations and the very msgspec types their handlers
decode and encode (``msgspec.json.schema_components``): the description cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from od.api.auth import SCHEME
from od.api.problems import PROBLEM_JSON, ProblemDetails
from od.api.routing import JSON, Operation

REF = "#/components/schemas/{name}"


def build(operations: Sequence[Operation], *, title: str, version: str, server_url: str) -> dict[str, Any]:
    types: list[Any] = [ProblemDetails]
    for op in operations:
        types += [t for t in (op.params, op.body) if t is not None]
        types += [t for t in op.responses.values() if not isinstance(t, dict)]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    by_type = dict(zip(types, schemas, strict=True))

    def schema_of(value: Any) -> Any:
        return value if isinstance(value, dict) else by_type[value]

    def struct_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
        name = by_type[struct]["$ref"].rsplit("/", 1)[-1]
        schema: dict[str, Any] = components[name]
        return schema

    problem = {"content": {PROBLEM_JSON: {"schema": by_type[ProblemDetails]}}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        path = op.openapi_path
        entry: dict[str, Any] = {
            "operationId": op.handler.__name__,
            "summary": op.summary,
            "responses": {
                str(op.status): {
                    "description": HTTPStatus(op.status).phrase,
                    **(
                        {"content": {media: {"schema": schema_of(t)} for media, t in op.responses.items()}}
                        if op.responses
                        else {}
                    ),
                }
            },
        }
        if op.description:
            entry["description"] = op.description
        if op.tags:
            entry["tags"] = list(op.tags)
        if op.params is not None:
            schema = struct_schema(op.params)
            required = set(schema.get("required", ()))
            entry["parameters"] = [
                {
                    "name": name,
                    "in": "path" if f"{{{name}}}" in path else "query",
                    "required": name in required or f"{{{name}}}" in path,
                    **_parameter_schema(prop),
                }
                for name, prop in schema.get("properties", {}).items()
            ]
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {JSON: {"schema": schema_of(op.body)}}}
        statuses = {*op.errors, 400}  # a bad or unknown parameter, whatever the operation
        if op.auth:
            statuses.add(401)
            entry["security"] = [{SCHEME: []}]
        for status in sorted(statuses):
            described: dict[str, Any] = {"description": HTTPStatus(status).phrase}
            entry["responses"][str(status)] = described if status == 304 else {**described, **problem}
        paths.setdefault(path, {})[op.method.lower()] = entry
    for name in [by_type[op.params]["$ref"].rsplit("/", 1)[-1] for op in operations if op.params is not None]:
        components.pop(name, None)  # parameters are described inline, not as a body type
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {SCHEME: {"type": "http", "scheme": "bearer"}},
        },
    }


def _parameter_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a value, never JSON ``null``: drop msgspec's
    ``anyOf [..., null]`` and ``default: null`` of optional fields."""
    prop = {k: v for k, v in prop.items() if not (k == "default" and v is None)}
    variants = [v for v in prop.pop("anyOf", []) if v != {"type": "null"}]
    if len(variants) == 1:
        prop = {**variants[0], **prop}
    elif variants:
        prop["anyOf"] = variants
    description = prop.pop("description", None)
    return {"schema": prop, **({"description": description} if description else {})}


async def openapi_json(request: Request) -> Response:
    document: bytes = request.app.state.openapi
    return Response(document, media_type=JSON)


operations = [
    Operation(
        "GET", "/openapi.json", openapi_json, "This OpenAPI 3.1 description", responses={JSON: {"type": "object"}}
    ),
]
