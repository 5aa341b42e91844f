"""Typed application and request keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.services.context import Principal, Services

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)  # the authenticated caller

__all__ = ["OPENAPI", "PRINCIPAL", "SERVICES", "Principal"]
