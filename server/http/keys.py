"""Typed application and request keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.http.bodies import BodyBudget
from server.http.metrics import Metrics
from server.http.quietlog import QuietLog
from server.services.auth import Paid
from server.services.context import Principal, Services

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)  # the authenticated caller
# the body of a route that takes raw bytes (attachment parts), read and hashed by the authentication middleware
RAW_BODY: web.RequestKey[bytearray] = web.RequestKey("raw_body", bytearray)
# the body of a JSON route, read by the authentication middleware within the route's limit
BODY: web.RequestKey[bytes] = web.RequestKey("body", bytes)
# a new intake's anonymous token, checked by the authentication middleware; spent with the intake
PAID: web.RequestKey[Paid] = web.RequestKey("paid", Paid)
BODIES: web.AppKey[BodyBudget] = web.AppKey("bodies", BodyBudget)  # this process's memory for request bodies
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
QUIET: web.AppKey[QuietLog] = web.AppKey("quiet_log", QuietLog)  # the server log, bounded under attack

__all__ = ["BODIES", "BODY", "METRICS", "OPENAPI", "PAID", "PRINCIPAL", "QUIET", "RAW_BODY", "SERVICES", "Principal"]
