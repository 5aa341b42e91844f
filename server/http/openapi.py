"""The OpenAPI 3.1 document, generated from the route table and the wire types."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from contract.answers import B64
from server.http.routes import ROUTES, Route

B64U = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$", "contentEncoding": "base64url"}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
BINARY = {"type": "string", "format": "binary"}
OWNERS = "\0owners"  # the type each component was made from, while the document is made
AUTH_HEADERS = ("X-Tessera-Principal", "X-Tessera-Time", "X-Tessera-Nonce", "X-Tessera-Signature")


def _schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [_schema(a, components) for a in typing.get_args(tp)]
        return {"anyOf": options}
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if tp is type(None):
        return {"type": "null"}
    if tp is bytes or tp is B64:
        return dict(B64U)
    if tp is typing.Any:
        return {}
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if origin in (tuple, list):
        return {"type": "array", "items": _schema(typing.get_args(tp)[0], components)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(typing.get_args(tp)[1], components)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        owner = components.setdefault(OWNERS, {}).setdefault(name, tp)
        if owner is not tp:
            raise TypeError(f"two types are named {name}: {owner.__module__} and {tp.__module__}")
        if name not in components:
            components[name] = {}  # placeholder against recursion
            hints = typing.get_type_hints(tp)
            renamed: dict[str, str] = getattr(tp, "RENAMED", {})
            fields = [f for f in dataclasses.fields(tp) if f.init]
            props = {renamed.get(f.name, f.name): _schema(hints[f.name], components) for f in fields}
            version = getattr(tp, "VERSION", None)
            if version is not None:
                props["v"] = {"type": "integer", "const": version}
            # a field with a default may be absent (responses only: every wire type's fields are required)
            required = [
                renamed.get(f.name, f.name)
                for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ]
            components[name] = {"type": "object", "additionalProperties": False, "required": required, "properties": props}
            if tp.__doc__ and not tp.__doc__.startswith(f"{name}("):  # a docstring of its own, not the generated one
                components[name]["description"] = " ".join(tp.__doc__.split())
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _response(route: Route, status: int, components: dict[str, Any]) -> dict[str, Any]:
    description = {200: "OK", 201: "Created"}[status]
    if route.response is bytes:
        return {"description": description, "content": {"application/octet-stream": {"schema": BINARY}}}
    return {"description": description, "content": {"application/json": {"schema": _schema(route.response, components)}}}


def document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "responses": {
                **{str(status): _response(route, status, components) for status in route.status},
                "default": {
                    "description": "Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        }
        if route.roles is not None:
            operation["security"] = [{"tesseraSignature": []}]
            operation["x-roles"] = sorted(route.roles)
        if route.body is bytes:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        elif route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(route.body, components)}},
            }
        params = [
            {"name": p[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for p in route.path.split("/")
            if p.startswith("{")
        ]
        if params:
            operation["parameters"] = params
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tessera",
            "version": "1",
            "description": "Ciphertext-only case store. Binary fields are unpadded base64url.",
        },
        "paths": paths,
        "components": {
            "schemas": {name: schema for name, schema in components.items() if name != OWNERS},
            "securitySchemes": {
                "tesseraSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Tessera-Signature",
                    "description": "Ed25519 over method, path, query, body digest, time and nonce; see keys/requests.py. "
                    f"Headers: {', '.join(AUTH_HEADERS)}.",
                }
            },
        },
    }
