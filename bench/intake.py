"""Intake throughput and latency over loopback against a real `tessera-server run` process, next to a
reference pipeline (bench/reference_server.py) measured in the same run on the same engine; then the latency
of listing a page of 50 cases with 100,000 stored. Run: `make bench` (or `python -m bench.intake`).

Engines: SQLite in a temporary directory (the default), or PostgreSQL with `--postgres URL` (an empty
database: Tessera is initialised in it, the reference pipeline inserts into a schema of its own there,
`bench_reference`, with an asyncpg pool and synchronous_commit on).

The two pipelines take turns for `--rounds` rounds and the ratio is the median of the rounds' ratios:
this machine's speed (its disk's fsync above all) drifts by a factor of two within minutes, which one
run of each measured minutes apart turned into noise.

Targets (issues 3 and 20): at least half the reference throughput with p99 under 100 ms; list p50 under 20 ms;
on PostgreSQL also two processes at least 1.5 times one (run once with `--workers 1`, once with 2).
Tessera runs as deployed (`--workers 2`: one process per core of this 2-core machine), the reference as the
issue defines it, one bare aiohttp process; `--workers 1` measures one Tessera process.
Envelopes are sealed before the clock starts: sealing happens on helpers' devices, not on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
from nacl.signing import SigningKey

from client.api import Api
from keys.encoding import b64u_encode
from keys.invites import Invite
from keys.wire import to_wire
from tests.support.org import Org, build_org
from tests.support.processes import free_port, running_server

BIN = Path(sys.executable).parent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def submit_all(apis: list[Api], jobs: list[list[tuple[str, dict[str, object]]]]) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0

    async def worker(api: Api, mine: list[tuple[str, dict[str, object]]]) -> None:
        nonlocal errors
        for path, body in mine:
            start = time.perf_counter()
            try:
                await api.call("PUT", path, body=body)
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker(api, mine) for api, mine in zip(apis, jobs, strict=True)))
    return time.perf_counter() - start, latencies, errors


@asynccontextmanager
async def reference_server(postgres: str | None) -> AsyncIterator[tuple[str, SigningKey]]:
    """The reference pipeline's server process: (its address, the key its clients sign with)."""
    port = free_port()
    key = SigningKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        script = str(Path(__file__).with_name("reference_server.py"))
        engine = ["--postgres", postgres] if postgres else ["--sqlite", f"{tmp}/ref.db"]
        process = subprocess.Popen([sys.executable, script, str(port), bytes(key.verify_key).hex(), *engine])
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(100):
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/v1/health") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
                else:
                    raise RuntimeError("the reference server did not start")
            yield f"http://127.0.0.1:{port}", key
        finally:
            process.terminate()
            process.wait()


async def reference_run(
    base: str, key: SigningKey, clients: int, per_client: int, bodies: list[bytes], round_no: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients * 2)) as session:

        async def worker(offset: int) -> None:
            nonlocal errors
            for n in range(per_client):
                body = bodies[(offset * per_client + n) % len(bodies)]
                signature = key.sign(body).signature.hex()
                t = time.perf_counter()
                url = f"{base}/v1/cases/{round_no}-{offset}-{n}"
                async with session.put(url, data=body, headers={"X-Signature": signature}) as r:
                    await r.read()
                    errors += r.status != 200
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        return time.perf_counter() - start, latencies, errors


def seal_round(org: Org, per_client: int) -> tuple[list[list[tuple[str, dict[str, object]]]], list[bytes]]:
    """Fresh intakes for every helper: (the requests per helper, the same bodies for the reference)."""
    jobs = []
    bodies = []
    for helper in org.helpers:
        mine = []
        for _ in range(per_client):
            envelope = org.seal(helper, case_file=b'{"kind":"food","need":"rice 20 kg"}' * 8, identity=b"name and place" * 10)
            body = to_wire(envelope)
            mine.append((f"/v1/cases/{b64u_encode(envelope.case_id)}", body))
            bodies.append(json.dumps(body).encode())
        jobs.append(mine)
    return jobs, bodies


CASE_COLUMNS = ("case_id", "state", "day", "epoch", "receipt", "envelope", "reply_sign_key", "reply_box_key")


def filler_cases(count: int) -> list[tuple[object, ...]]:
    return [(os.urandom(16), "open", 20000, 1, os.urandom(32), "{}", os.urandom(32), os.urandom(32)) for _ in range(count)]


def fill_cases(db_path: Path, count: int) -> None:
    db = sqlite3.connect(db_path)
    db.executemany(f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?)", filler_cases(count))
    db.commit()
    db.close()


async def fill_cases_postgres(url: str, count: int) -> None:
    import asyncpg

    db = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await db.copy_records_to_table("cases", records=filler_cases(count), columns=CASE_COLUMNS)
        await db.execute("ANALYZE cases")  # as autovacuum would soon after such a load
    finally:
        await db.close()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "srv"
        env = {**os.environ, "TESSERA_RATE_LIMIT": "1000000"}
        init_args = [str(BIN / "tessera-server"), "init", "--data", str(data), "--json"]
        init = subprocess.run(
            init_args + (["--db", args.postgres] if args.postgres else []), capture_output=True, text=True, env=env, check=True
        )
        invite = Invite.decode(json.loads(init.stdout.strip().splitlines()[-1])["invite"])
        port = free_port()
        extra = ("--workers", str(args.workers)) if args.workers > 1 else ()
        with running_server(data, port, env=env, extra=extra):
            base = f"http://127.0.0.1:{port}"
            connector = aiohttp.TCPConnector(limit=args.clients * 2)
            async with aiohttp.ClientSession(connector=connector) as session:
                invite = replace(invite, server=base)  # the invite names the server it was made for
                org = await build_org(base, session, invite, args.clients)
                apis, member = [h.api for h in org.helpers], org.council[0].api
                total = args.clients * args.per_client
                ours_latencies: list[float] = []
                ref_latencies: list[float] = []
                ours_rates: list[float] = []
                ref_rates: list[float] = []
                ratios: list[float] = []
                errors = ref_errors = 0
                print(
                    f"{args.rounds} rounds of {total} intakes from {args.clients} concurrent clients over loopback, "
                    "each pipeline in turn (this machine's speed drifts: a ratio is taken within a round)",
                    flush=True,
                )
                async with reference_server(args.postgres) as (ref_base, ref_key):
                    for round_no in range(args.rounds):
                        jobs, bodies = seal_round(org, args.per_client)  # on helpers' devices: not timed
                        elapsed, latencies, failed = await submit_all(apis, jobs)
                        ref_elapsed, ref_round, ref_failed = await reference_run(
                            ref_base, ref_key, args.clients, args.per_client, bodies, round_no
                        )
                        ours_latencies += latencies
                        ref_latencies += ref_round
                        errors += failed
                        ref_errors += ref_failed
                        ours_rates.append(total / elapsed)
                        ref_rates.append(total / ref_elapsed)
                        ratios.append(ref_elapsed / elapsed)
                        print(
                            f"  round {round_no + 1}: tessera {total / elapsed:6.0f}/s, reference {total / ref_elapsed:6.0f}/s,"
                            f" ratio {ratios[-1]:.2f}",
                            flush=True,
                        )
                print(f"\n{'pipeline (median of rounds)':<34} {'intakes/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
                row = "{:<34} {:>10.0f} {:>8.1f} {:>8.1f} {:>7}"
                engine = "PostgreSQL" if args.postgres else "SQLite"
                backend = engine + (f", {args.workers} workers" if args.workers > 1 else "")
                ours_p50, ours_p99 = percentile(ours_latencies, 50) * 1e3, percentile(ours_latencies, 99) * 1e3
                print(row.format(f"tessera-server ({backend})", statistics.median(ours_rates), ours_p50, ours_p99, errors))
                ref_p50, ref_p99 = percentile(ref_latencies, 50) * 1e3, percentile(ref_latencies, 99) * 1e3
                ref_name = f"reference (verify + INSERT, {engine})"
                print(row.format(ref_name, statistics.median(ref_rates), ref_p50, ref_p99, ref_errors))
                print(
                    f"ratio tessera/reference: median {statistics.median(ratios):.2f}, "
                    f"rounds {min(ratios):.2f}..{max(ratios):.2f} (target >= 0.5); p99 target < 100 ms"
                )
                print(f"\nfilling the database to {args.stored:,} cases...", flush=True)
                if args.postgres:
                    await fill_cases_postgres(args.postgres, args.stored - total * args.rounds)
                else:
                    fill_cases(data / "tessera.db", args.stored - total * args.rounds)
                times = []
                for i in range(args.list_requests):
                    t = time.perf_counter()
                    await member.call("GET", "/v1/cases", query={"state": "open", "limit": 50})
                    times.append(time.perf_counter() - t)
                    if i == 0:
                        times.clear()  # the first request warms the page cache
                print(
                    f"list a page of 50 with {args.stored:,} stored: p50 {statistics.median(times) * 1e3:.1f} ms, "
                    f"p99 {percentile(times, 99) * 1e3:.1f} ms (target p50 < 20 ms)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=20, help="intakes per client per round (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each pipeline in turn (default 5)")
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--list-requests", type=int, default=201)
    parser.add_argument(
        "--postgres", help="an empty PostgreSQL database URL, for both pipelines (default: SQLite in a temporary directory)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="server processes sharing the port (default 2, as deploy/tessera-server.service runs on a 2-core "
        "machine; 1 measures a single process)",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
