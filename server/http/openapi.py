"""The OpenAPI 3.1 document, generated from the route table and the wire types."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from server.http.routes import ROUTES

B64U = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$", "contentEncoding": "base64url"}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
AUTH_HEADERS = ("X-Tessera-Principal", "X-Tessera-Time", "X-Tessera-Nonce", "X-Tessera-Signature")


def _schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [_schema(a, components) for a in typing.get_args(tp)]
        return {"anyOf": options}
    if tp is type(None):
        return {"type": "null"}
    if tp is bytes:
        return dict(B64U)
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if origin is tuple:
        return {"type": "array", "items": _schema(typing.get_args(tp)[0], components)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in components:
            components[name] = {}  # placeholder against recursion
            hints = typing.get_type_hints(tp)
            fields = [f for f in dataclasses.fields(tp) if f.init]
            props = {f.name: _schema(hints[f.name], components) for f in fields}
            version = getattr(tp, "VERSION", None)
            if version is not None:
                props["v"] = {"type": "integer", "const": version}
            components[name] = {
                "type": "object",
                "additionalProperties": False,
                "required": [f.name for f in fields],
                "properties": props,
            }
        return {"$ref": f"#/components/schemas/{name}"}
    return {}


def document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "201": {"description": "Created", "content": {"application/json": {"schema": {"type": "object"}}}},
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
            "schemas": components,
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
