"""Prometheus metrics: request counts per route template and status. Off by default; when on, answered
only to loopback callers. Labels are route templates, never ids, so no case id or account leaks here."""

from __future__ import annotations

import ipaddress
from collections import Counter

from aiohttp import web

from server.http.keys import SERVICES

REQUESTS: web.AppKey[Counter[tuple[str, int]]] = web.AppKey("request_counts", Counter)


def count_request(request: web.Request, template: str, status: int) -> None:
    request.app[REQUESTS][(template, status)] += 1


async def render(request: web.Request) -> web.Response:
    config = request.app[SERVICES].config
    try:
        loopback = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        loopback = False
    if config.metrics != "loopback" or not loopback:
        raise web.HTTPNotFound()
    lines = ["# HELP tessera_requests_total Requests by route template and status.", "# TYPE tessera_requests_total counter"]
    for (template, status), value in sorted(request.app[REQUESTS].items()):
        lines.append(f'tessera_requests_total{{route="{template}",status="{status}"}} {value}')
    db = request.app[SERVICES].db
    if db.is_sqlite:  # writes per commit = how well group commit groups
        lines += [
            "# HELP tessera_sqlite_commits_total Group commits (one fsync each).",
            "# TYPE tessera_sqlite_commits_total counter",
            f"tessera_sqlite_commits_total {db.commits}",
            "# HELP tessera_sqlite_committed_writes_total Write blocks committed in them.",
            "# TYPE tessera_sqlite_committed_writes_total counter",
            f"tessera_sqlite_committed_writes_total {db.committed_writes}",
        ]
        if db.checkpointer is not None:
            lines += [
                "# HELP tessera_sqlite_checkpoints_total WAL checkpoints run beside the writers.",
                "# TYPE tessera_sqlite_checkpoints_total counter",
                f"tessera_sqlite_checkpoints_total {db.checkpointer.checkpoints}",
                "# HELP tessera_sqlite_wal_restarts_total Times the WAL was made to start again from its beginning.",
                "# TYPE tessera_sqlite_wal_restarts_total counter",
                f"tessera_sqlite_wal_restarts_total {db.checkpointer.restarts}",
                "# HELP tessera_sqlite_checkpoint_failures_total Checkpoints that failed (the server log says why).",
                "# TYPE tessera_sqlite_checkpoint_failures_total counter",
                f"tessera_sqlite_checkpoint_failures_total {db.checkpointer.failures}",
            ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")
