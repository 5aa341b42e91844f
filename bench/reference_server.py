"""The reference pipeline for bench/intake.py: a bare aiohttp handler that verifies one Ed25519
signature and inserts the body into SQLite (WAL, synchronous=FULL, like Tessera's default)."""

from __future__ import annotations

import sqlite3
import sys

from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey


def main() -> None:
    port, db_path, key_hex = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    verify_key = VerifyKey(bytes.fromhex(key_hex))
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS intakes (id TEXT PRIMARY KEY, body BLOB)")

    async def put(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_key.verify(body, bytes.fromhex(request.headers["X-Signature"]))
        except (BadSignatureError, KeyError, ValueError):
            return web.json_response({"error": "unauthorized"}, status=401)
        db.execute("INSERT OR IGNORE INTO intakes VALUES (?, ?)", (request.match_info["id"], body))
        return web.json_response({"ok": True})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=2**20)
    app.router.add_put("/v1/cases/{id}", put)
    app.router.add_get("/v1/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
