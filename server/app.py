"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web, web_response
from sqlalchemy import text

from keys.accounts import AccountKeys
from keys.directory import DirectoryState
from keys.group import self_test
from server.config import Config
from server.errors import ConfigError
from server.http.adapter import adapt
from server.http.bodies import BodyBudget
from server.http.keys import BODIES, METRICS, OPENAPI, QUIET, SERVICES
from server.http.metrics import SAMPLE_INTERVAL, Metrics
from server.http.middleware import authentication, errors
from server.http.openapi import document
from server.http.quietlog import QuietLog
from server.http.routes import ROUTES
from server.services import audit, tokens
from server.services.auth import purge_expired
from server.services.context import Clock, Services
from server.services.directory import replay
from server.services.instances import Instance
from server.services.retention import shred_expired
from server.services.serverkey import reconcile_server_key
from server.storage.db import Database
from server.storage.migrate import head_revision

log = logging.getLogger("tessera.server")
PURGE_INTERVAL = 60.0


def load_server_keys(path: Path) -> AccountKeys:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: was this data directory made by `tessera-server init`?") from None
    if len(data) != 64:
        raise ConfigError(f"{path} is damaged (expected 64 bytes)")
    return AccountKeys(sign_seed=data[:32], box_secret=data[32:])


async def check_database(db: Database) -> DirectoryState:
    """Refuse to serve a database with another schema revision, or whose chains do not verify; returns the
    replayed key directory."""
    async with db.read() as session:
        try:
            revision = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
        except Exception as exc:
            raise ConfigError("the database has no Tessera schema: run `tessera-server init` or `migrate`") from exc
    if revision != head_revision():
        raise ConfigError(
            f"the database schema is at revision {revision}, this server needs {head_revision()}: run `tessera-server migrate`"
        )
    async with db.read() as session:
        try:
            await audit.verify_chain(session)
            return await replay(session)
        except Exception as exc:
            raise ConfigError(f"refusing to start: {exc}") from exc


def create_app(config: Config, *, clock: Clock | None = None) -> web.Application:
    self_test()
    # bodies are read by the authentication middleware (server/http/bodies.py), never by request.read()
    app = web.Application(middlewares=[errors, authentication], client_max_size=config.max_body)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, adapt(route))  # parses its body, serialises its answer
    app[OPENAPI] = document()
    app[BODIES] = BodyBudget(config.body_memory)
    app[METRICS] = Metrics()
    app[QUIET] = QuietLog(log)
    app.on_response_prepare.append(_plain_server_header)
    _hide_version_banner()

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        db = Database(config.db_url)
        try:
            state = await check_database(db)
            server_keys = reconcile_server_key(config.key_path, load_server_keys(config.key_path), state)
            services = Services(config=config, db=db, server_keys=server_keys)
            if clock is not None:
                services.clock = clock
            app[SERVICES] = services
            yield
        finally:
            await db.close()

    async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        instance = Instance(services.db, head_revision())
        await instance.register(services.now())
        await tokens.ensure_token_key(services)

        async def loop() -> None:
            shredded_on = -1
            while True:
                await asyncio.sleep(PURGE_INTERVAL)
                try:
                    await purge_expired(services)
                    await tokens.ensure_token_key(services)  # a new period's key is published as it begins
                    await tokens.purge(services)
                    await instance.beat(services.now())
                    if any(config.retention.values()) and services.today() != shredded_on:
                        shredded_on = services.today()  # once a day
                        count = len(await shred_expired(services))
                        if count:
                            log.info("retention: crypto-shredded %d case(s)", count)
                except Exception:
                    log.exception("housekeeping failed")

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await instance.unregister()
        except Exception:  # the database may be gone at shutdown; the entry then expires by itself
            log.warning("could not remove this server's heartbeat entry")

    async def sampling_ctx(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                app[METRICS].sample(app[SERVICES].db)
                await asyncio.sleep(SAMPLE_INTERVAL)

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(housekeeping_ctx)
    app.cleanup_ctx.append(sampling_ctx)
    return app


SERVER_NAME = "tessera"


async def _plain_server_header(_request: web.Request, response: web.StreamResponse) -> None:
    """No `Server: Python/3.x aiohttp/3.x`: a version banner only helps an attacker pick an exploit."""
    response.headers["Server"] = SERVER_NAME


def _hide_version_banner() -> None:
    """aiohttp answers a request it cannot parse itself, outside the application and its signals, with its
    module default for the Server header; it has no setting for that default, so it is replaced here (for
    this process: every application in it is Tessera's)."""
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]
