"""`tessera-server`: init, run, migrate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import start_http_server

from keys.accounts import AccountKeys
from keys.encoding import b64u_encode
from keys.errors import TesseraError
from keys.group import self_test
from keys.invites import check_account_name
from privatefiles import write_private_file
from server.app import check_database, create_app, load_server_keys
from server.config import (
    CONFIG_NAME,
    DEFAULT_LISTEN,
    RELATIVE_DB_URL,
    Config,
    load_config,
    sqlite_path,
    write_template,
)
from server.errors import ConflictError, ServiceError
from server.http.metrics import collected
from server.http.serving import fix_mmap_threshold, serve
from server.services.backup import BackupSummary, create_backup, restore_backup
from server.services.context import Services
from server.services.instances import live_revisions
from server.services.retention import shred_expired
from server.services.serverkey import pending_path, rotate_server_key, save_keys
from server.services.setup import create_organisation
from server.storage.db import Database
from server.storage.migrate import head_revision, upgrade

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera-server", description="Tessera server: stores only ciphertext.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="create a data directory and the organisation; prints the first admin invite")
    init.add_argument("--data", required=True, type=Path, help="data directory to create")
    init.add_argument("--db", help="database URL (default: SQLite in the data directory)")
    init.add_argument(
        "--url",
        help="address clients use to reach this server (default: from the listen address); a loopback URL with a port "
        "also sets the listen address",
    )
    init.add_argument("--listen", help="HOST:PORT to write as the listen address (default: from --url, else 127.0.0.1:8080)")
    init.add_argument("--admin-name", default="admin", help="account name of the first administrator (default: admin)")
    init.add_argument("--json", action="store_true", help="print one JSON object with an 'invite' field")
    run = sub.add_parser("run", help="serve the API until SIGTERM or SIGINT")
    run.add_argument("--data", required=True, type=Path)
    run.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:8080, or the configuration's)")
    run.add_argument("--workers", type=int, default=1, help="server processes sharing the port (default 1)")
    run.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # started by a supervising `run`
    migrate = sub.add_parser("migrate", help="upgrade the database schema to this version (refused while an older one serves)")
    migrate.add_argument("--data", required=True, type=Path)
    migrate.add_argument("--force", action="store_true", help="migrate even if server processes seem to be running")
    backup = sub.add_parser("backup", help="write a consistent, signed snapshot of the database (ciphertext only)")
    backup.add_argument("--data", required=True, type=Path)
    backup.add_argument("--out", required=True, type=Path, help="archive to write (.tar.gz)")
    rotate = sub.add_parser("rotate-key", help="rotate the server's signing key (stop the server first)")
    rotate.add_argument("--data", required=True, type=Path)
    rotate.add_argument("--force", action="store_true", help="rotate even if server processes seem to be running")
    shred = sub.add_parser("shred", help="crypto-shred the cases past their retention period (the [retention] settings)")
    shred.add_argument("--data", required=True, type=Path)
    shred.add_argument("--dry-run", action="store_true", help="only list what would be shredded")
    restore = sub.add_parser("restore", help="restore a backup into a fresh database of this data directory")
    restore.add_argument("--data", required=True, type=Path, help="a data directory with its configuration and server.key")
    restore.add_argument("archive", type=Path)
    return parser


def cmd_backup(args: argparse.Namespace) -> int:
    config = load_config(args.data)

    async def go() -> BackupSummary:
        db = Database(config.db_url)
        try:
            return await create_backup(db, load_server_keys(config.key_path), args.out, day=int(time.time()) // 86400)
        finally:
            await db.close()

    summary = asyncio.run(go())
    total = sum(summary.rows.values())
    print(f"wrote {summary.path}: {total} rows in {len(summary.rows)} tables, schema revision {summary.revision},")
    print("signed by the server key. It holds ciphertext only; keep server.key and the configuration apart from it.")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    config = load_config(args.data)
    new = AccountKeys.generate()

    async def go() -> int:
        db = Database(config.db_url)
        try:
            if await live_revisions(db, int(time.time())) and not args.force:
                raise ServiceError(
                    "a server is running on this database; stop it first (it signs with the old key until restarted)"
                )
            services = Services(config=config, db=db, server_keys=load_server_keys(config.key_path))
            save_keys(pending_path(config.key_path), new)  # first: an interruption after the commit is finished at start
            return await rotate_server_key(services, new)
        finally:
            await db.close()

    seq = asyncio.run(go())
    os.replace(pending_path(config.key_path), config.key_path)
    print(f"rotated the server key (key directory entry {seq}, signed by the old key and the new one).")
    print("The old key is gone from this directory; checkpoints it signed still verify. Start the server again.")
    return 0


def cmd_shred(args: argparse.Namespace) -> int:
    config = load_config(args.data)
    if not any(config.retention.values()):
        print("no retention period is set ([retention] in the configuration): nothing is ever shredded")
        return 0

    async def go() -> list[bytes]:
        db = Database(config.db_url)
        try:
            services = Services(config=config, db=db, server_keys=load_server_keys(config.key_path))
            return await shred_expired(services, dry_run=args.dry_run)
        finally:
            await db.close()

    shredded = asyncio.run(go())
    verb = "would shred" if args.dry_run else "shredded"
    print(f"{verb} {len(shredded)} case(s)" + (": " + ", ".join(b64u_encode(c) for c in shredded) if shredded else ""))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    config = load_config(args.data)

    async def go() -> BackupSummary:
        db = Database(config.db_url)
        try:
            summary = await restore_backup(db, load_server_keys(config.key_path), args.archive)
            await check_database(db)  # the audit chain and the key directory verify
            return summary
        finally:
            await db.close()

    try:
        summary = asyncio.run(go())
    except ConflictError as exc:
        path = sqlite_path(config.db_url)
        if path is None or path.parent == args.data.resolve():
            raise
        raise ConflictError(
            f"{exc}: the configuration in {args.data} points at the database {path}, outside {args.data} (a "
            f'configuration copied from another data directory). Set db_url = "{RELATIVE_DB_URL}" in '
            f"{args.data / CONFIG_NAME} to restore into a new database in {args.data}, then run the restore again"
        ) from exc
    print(
        f"restored {sum(summary.rows.values())} rows; audit chain and key directory verify; schema at revision {summary.revision}"
    )
    return 0


def listen_for(url: str | None) -> str:
    """The listen address that serves `url` directly: its host and port when it names a loopback address with a
    port (invites then point where `run` listens); otherwise the default, which a proxy or Tor forwards to."""
    if url is None:
        return DEFAULT_LISTEN
    parsed = urlsplit(url)
    try:
        port = parsed.port
    except ValueError:
        return DEFAULT_LISTEN
    if parsed.hostname in ("127.0.0.1", "localhost", "::1") and port is not None:
        host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
        return f"{host}:{port}"
    return DEFAULT_LISTEN


def initialise(
    data: Path, *, db_url: str | None, url: str | None, admin_name: str, listen: str | None = None
) -> tuple[str, str]:
    """Create the data directory, the schema and the organisation; returns (invite, database URL).

    Runs its own event loop: call it from synchronous code only.
    """
    check_account_name(admin_name)
    if (data / CONFIG_NAME).exists():
        raise ServiceError(f"{data} holds an organisation already; refusing to overwrite it")
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_template(data, db_url or RELATIVE_DB_URL, listen or listen_for(url))
    write_private_file(data / "server.key", os.urandom(64))
    config = load_config(data)
    upgrade(config.db_url)
    server_url = url or f"http://{config.listen_host}:{config.listen_port}"

    async def bootstrap() -> str:
        db = Database(config.db_url)
        try:
            services = Services(config=config, db=db, server_keys=load_server_keys(config.key_path))
            invite = await create_organisation(services, server_url=server_url, admin_name=admin_name)
            return invite.encode()
        finally:
            await db.close()

    return asyncio.run(bootstrap()), config.db_url


def cmd_init(args: argparse.Namespace) -> int:
    invite, _db_url = initialise(args.data, db_url=args.db, url=args.url, admin_name=args.admin_name, listen=args.listen)
    config = load_config(args.data)
    if args.json:
        print(json.dumps({"invite": invite, "data": str(args.data)}))
    else:
        print(f"Created the organisation in {args.data}.")
        print(f"It listens on {config.listen_host}:{config.listen_port} (`listen` in {args.data / CONFIG_NAME}).")
        print(f"Start the server:  tessera-server run --data {args.data}")
        print(f"The first administrator ({args.admin_name}) joins with this one-time invite (valid 7 days):")
        print(invite)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.data)
    if args.listen:
        config = config.with_listen(args.listen)
    if not args.worker and (args.workers != 1 or config.metrics_address is not None):
        return run_workers(args, config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fix_mmap_threshold()
    app = create_app(config)

    async def started() -> None:  # after the database checks passed and the port is open
        tune_gc()
        print(f"tessera-server listening on {config.listen_host}:{config.listen_port}", flush=True)

    # serve: no access log (no address or user agent, ever), connection and header limits (server/http/serving.py);
    # SIGTERM/SIGINT finish in-flight requests.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(
            serve(
                app,
                config.listen_host,
                config.listen_port,
                max_connections=config.max_connections,
                reuse_port=args.reuse_port,
                started=started,
            )
        )
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (the `server` extra installs it), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


GC_YOUNG = 20_000  # allocations between collections of the youngest generation (CPython's default: 700)


def tune_gc() -> None:
    """Once started: set what start-up loaded (modules, the app, the schema) aside from the cyclic garbage
    collector (gc.freeze), and collect the youngest generation less often. A request allocates thousands of
    short-lived objects, nearly all freed by reference counting; at the default threshold a collection ran
    every 15 intakes or so (207 in a run of `bench.intake --rounds 3`), and the oldest generation's went
    through everything start-up loaded. Memory that matters (request bodies, attachment parts) is freed by
    reference counting, not by the collector, and the older generations keep their thresholds; what ends
    up in cycles anyway (connections that ended badly) is collected every few seconds by serving.py."""
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, middle, old)


def run_workers(args: argparse.Namespace, config: Config) -> int:
    """N `run` processes on one port (SO_REUSEPORT); the kernel spreads connections. They share nothing
    but the database, which holds every piece of shared state (on SQLite their writes take turns, one
    group commit at a time: storage/db.py). With metrics on (also for one worker), this process serves them
    on their own port, adding up what each worker wrote (server/http/metrics.py)."""
    if not 1 <= args.workers <= 64 or (args.workers == 1 and config.metrics_address is None):
        raise ServiceError("--workers must be from 2 to 64")
    command = [
        sys.executable,
        "-m",
        "server.main",
        "run",
        "--data",
        str(args.data),
        "--worker",
        "--reuse-port",
        "--listen",
        f"{config.listen_host}:{config.listen_port}",
    ]
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if config.metrics_address is not None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="tessera-metrics-"))
            env["PROMETHEUS_MULTIPROC_DIR"] = directory
            host, port = config.metrics_address
            httpd, _thread = start_http_server(port, addr=host, registry=collected(directory))
            stack.callback(httpd.shutdown)
        return _supervise([subprocess.Popen(command, env=env) for _ in range(args.workers)])  # noqa: S603 - our own program


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # The first worker to end ends them all, so a server short of a worker does not look healthy to its
    # supervisor (systemd restarts it whole). WNOWAIT leaves the child for its Popen to reap.
    os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
    unasked = not stopping
    if unasked:
        ended = next(child for child in children if child.poll() is not None)
        print(f"tessera-server: worker {ended.pid} ended (exit {ended.returncode}); stopping the others", file=sys.stderr)
        forward(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    return EXIT_ERROR if unasked or any(codes) else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    config = load_config(args.data)

    async def others() -> list[str]:
        db = Database(config.db_url)
        try:
            return [r for r in await live_revisions(db, int(time.time())) if r != head_revision()]
        finally:
            await db.close()

    running = asyncio.run(others())
    if running and not args.force:
        raise ServiceError(
            f"{len(running)} server process(es) of schema revision {', '.join(sorted(set(running)))} are running on this "
            "database; stop them first (or pass --force if they are gone: an entry expires 150 s after its last heartbeat)"
        )
    upgrade(config.db_url)
    print(f"the database schema is at revision {head_revision()} (up to date)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # the database, its WAL and the key file are for this user only
    try:
        self_test()
        commands = {
            "init": cmd_init,
            "run": cmd_run,
            "migrate": cmd_migrate,
            "backup": cmd_backup,
            "restore": cmd_restore,
            "shred": cmd_shred,
            "rotate-key": cmd_rotate_key,
        }
        return commands[args.command](args)
    except (ServiceError, TesseraError) as exc:
        print(f"tessera-server: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"tessera-server: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return EXIT_ERROR


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
