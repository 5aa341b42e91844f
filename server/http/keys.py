"""Typed application and request keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.services.context import Principal, Services

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)  # the authenticated caller
# the body of a route that takes raw bytes (attachment parts), read and hashed by the authentication middleware
RAW_BODY: web.RequestKey[bytearray] = web.RequestKey("raw_body", bytearray)

__all__ = ["OPENAPI", "PRINCIPAL", "RAW_BODY", "SERVICES", "Principal"]
