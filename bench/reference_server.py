"""The reference pipeline for bench/intake.py: a bare aiohttp handler that verifies one Ed25519
signature and inserts the body, on either engine Tessera runs on:

- SQLite (the default): one connection, WAL, synchronous=FULL, like Tessera's default;
- PostgreSQL (`--postgres URL`): an asyncpg pool (as an aiohttp service on PostgreSQL would use), one
  INSERT per request in its own transaction, synchronous_commit on (each answer waits for its commit to
  be flushed; PostgreSQL itself flushes the commits of concurrent connections together). Its table lives
  in a schema of its own (`bench_reference`), dropped first, so it never touches Tessera's tables.

Run: python bench/reference_server.py PORT KEY_HEX (--sqlite PATH | --postgres URL)
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

POOL_SIZE = 20  # connections: as many as Tessera's SQLAlchemy pool may open (10 + 10 overflow)
Store = Callable[[str, bytes], Awaitable[None]]


def sqlite_store(path: str) -> Store:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS intakes (id TEXT PRIMARY KEY, body BLOB)")

    async def store(key: str, body: bytes) -> None:
        db.execute("INSERT OR IGNORE INTO intakes VALUES (?, ?)", (key, body))

    return store


def postgres_ctx(url: str, slot: list[Store]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        import asyncpg

        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        setup = await asyncpg.connect(dsn)
        try:
            await setup.execute("DROP SCHEMA IF EXISTS bench_reference CASCADE")
            await setup.execute("CREATE SCHEMA bench_reference")
            await setup.execute("CREATE TABLE bench_reference.intakes (id text PRIMARY KEY, body bytea NOT NULL)")
            if (await setup.fetchval("SHOW synchronous_commit")) != "on":
                raise SystemExit("the reference needs synchronous_commit = on, as Tessera runs")
        finally:
            await setup.close()
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        insert = "INSERT INTO bench_reference.intakes (id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING"

        async def store(key: str, body: bytes) -> None:
            await pool.execute(insert, key, body)  # asyncpg prepares it once per connection

        slot.append(store)
        try:
            yield
        finally:
            await pool.close()

    return ctx


def make_app(verify_key: VerifyKey, *, sqlite: str | None, postgres: str | None) -> web.Application:
    app = web.Application(client_max_size=2**20)
    slot: list[Store] = []
    if postgres is not None:
        app.cleanup_ctx.append(postgres_ctx(postgres, slot))
    else:
        assert sqlite is not None
        slot.append(sqlite_store(sqlite))

    async def put(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_key.verify(body, bytes.fromhex(request.headers["X-Signature"]))
        except (BadSignatureError, KeyError, ValueError):
            return web.json_response({"error": "unauthorized"}, status=401)
        await slot[0](request.match_info["id"], body)
        return web.json_response({"ok": True})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_put("/v1/cases/{id}", put)
    app.router.add_get("/v1/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("key_hex")
    engine = parser.add_mutually_exclusive_group(required=True)
    engine.add_argument("--sqlite", help="the SQLite file to insert into")
    engine.add_argument("--postgres", help="the PostgreSQL database to insert into (schema bench_reference)")
    args = parser.parse_args()
    app = make_app(VerifyKey(bytes.fromhex(args.key_hex)), sqlite=args.sqlite, postgres=args.postgres)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
