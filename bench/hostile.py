"""Hostile clients (issue 19): 50 honest clients doing the usual mix (bench/soak.py: intakes, listings, case
reads, messages, votes, reveals) against a real `tessera-server run` process, first alone, then while 1,000
hostile connections run against the same server from another process, then alone again (the two alone
phases together are the baseline: this machine's speed drifts within minutes):
- slow headers: a request head a byte at a time, never finished;
- never-ending chunked bodies: unauthenticated, and under a real account's name (anyone may know one),
  a chunk at a time, never the last one;
- aborted uploads: a body declared, half sent, and the connection closed;
- invite sprays: invite checks with made-up invites, paced;
and, in the middle of the attack, a real new member joins with a real invite.

Every connection is to 127.0.0.1; each hostile slot opens connections one after another until the attack
ends (bounded by --attack seconds), and at most --hostile are open at once.

Reports, against the targets: the server's RSS during and after the attack, honest requests that failed,
honest p99 with and without attackers, the real invite's join, and how much the server log grew. Run:
`python -m bench.hostile` (defaults: 50 clients, 1,000 hostile connections, 60 s phases)."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from bench.soak import Stats, helper_loop, member_loop, percentile, rss_kib
from client.api import Api
from client.enrol import join, make_invite
from keys.accounts import AccountKeys
from keys.directory import DirectoryEntry
from keys.encoding import b64u_encode
from keys.invites import Invite
from keys.wire import from_wire
from tests.support.org import Org, build_org
from tests.support.processes import free_port, running_server

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"  # loopback only
RECONNECT = 1.0  # seconds before a hostile slot opens its next connection


# -- the attackers (run in a process of their own, so they do not slow the honest clients' event loop) ------


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port)


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _auth_headers(principal: str) -> dict[str, str]:
    # a real account's name with a fresh time and a made-up signature: it passes the header checks
    return {
        "X-Tessera-Principal": principal,
        "X-Tessera-Time": str(int(time.time())),
        "X-Tessera-Nonce": b64u_encode(os.urandom(16)),
        "X-Tessera-Signature": b64u_encode(os.urandom(64)),
        "Content-Type": "application/json",
    }


async def slow_headers(port: int) -> None:
    reader, writer = await _connect(port)
    try:
        writer.write(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        while not reader.at_eof():
            await asyncio.sleep(1.0)
            writer.write(b"a")
            await writer.drain()
    finally:
        writer.close()


async def endless_chunked(port: int, principal: str) -> None:
    reader, writer = await _connect(port)
    try:
        path = f"/v1/cases/{b64u_encode(os.urandom(16))}/messages"
        writer.write(_head("POST", path, {**_auth_headers(principal), "Transfer-Encoding": "chunked"}))
        piece = b"x" * 4096
        while not reader.at_eof():
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.25)  # 16 KiB/s: faster than the minimum rate, so only the route's limit ends it
    finally:
        writer.close()


async def aborted_upload(port: int, principal: str | None) -> None:
    _reader, writer = await _connect(port)
    try:
        size = 256 * 1024
        if principal is None:
            data = _head("POST", "/v1/invites/grant", {"Content-Length": "8000", "Content-Type": "application/json"})
            writer.write(data + b'{"v":1,"invite_id":"' + b"A" * 3000)
        else:
            path = f"/v1/cases/{b64u_encode(os.urandom(16))}/messages"
            writer.write(_head("POST", path, {**_auth_headers(principal), "Content-Length": str(size)}) + b"x" * (size // 2))
        await writer.drain()
        await asyncio.sleep(random.uniform(0.2, 2.0))
    finally:
        writer.close()  # gone before the body ended


async def invite_spray(port: int, pause: float) -> None:
    reader, writer = await _connect(port)
    try:
        while not reader.at_eof():
            body = json.dumps({"v": 1, "invite_id": b64u_encode(os.urandom(16)), "secret": b64u_encode(os.urandom(24))})
            headers = {"Content-Length": str(len(body)), "Content-Type": "application/json"}
            writer.write(_head("POST", "/v1/invites/grant", headers) + body.encode())
            await writer.drain()
            status = await reader.readline()
            if not status:
                break
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(pause)
    finally:
        writer.close()


async def _slot(kind: str, port: int, deadline: float, principal: str, spray_pause: float, opened: list[int]) -> None:
    while time.monotonic() < deadline:
        opened[0] += 1
        try:
            attack = {
                "slow-headers": lambda: slow_headers(port),
                "chunked-unauthenticated": lambda: endless_chunked(port, "nobody"),
                "chunked-named": lambda: endless_chunked(port, principal),
                "aborted-unauthenticated": lambda: aborted_upload(port, None),
                "aborted-named": lambda: aborted_upload(port, principal),
                "invite-spray": lambda: invite_spray(port, spray_pause),
            }[kind]
            await asyncio.wait_for(attack(), max(0.1, deadline - time.monotonic()))
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        await asyncio.sleep(RECONNECT)  # a connection the server ended is opened again: attacks, not a flood


MIX = {
    "slow-headers": 0.35,
    "chunked-unauthenticated": 0.15,
    "chunked-named": 0.15,
    "aborted-unauthenticated": 0.1,
    "aborted-named": 0.1,
    "invite-spray": 0.15,
}


def attackers(
    port: int,
    seconds: float,
    hostile: int,
    principal: str,
    spray_pause: float,
    report: Path,
    only: str | None = None,
    nice: int = 0,
) -> None:
    """The attacking process: `hostile` slots, each opening one connection after another for `seconds`. `nice`: its
    scheduling priority lowered by that much (see --attacker-nice)."""
    if nice:
        os.nice(nice)
    mix = {only: 1.0} if only else MIX
    kinds = [kind for kind, share in mix.items() for _ in range(round(share * hostile))]

    async def run() -> None:
        deadline = time.monotonic() + seconds
        opened = [0]
        await asyncio.gather(*(_slot(kind, port, deadline, principal, spray_pause, opened) for kind in kinds))
        report.write_text(json.dumps({"slots": len(kinds), "connections": opened[0], "mix": mix}))

    asyncio.run(run())


# -- the honest side ---------------------------------------------------------------------------------------


async def honest(org: Org, seconds: float) -> tuple[Stats, list[bytes]]:
    stats, cases = Stats(), []
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(helper_loop(org, h, stats, cases, deadline) for h in org.helpers),
        *(member_loop(org, m, stats, cases, deadline) for m in org.council),
    )
    return stats, cases


async def real_invite_joins(org: Org, base: str, session: aiohttp.ClientSession, after: float) -> tuple[bool, float, str]:
    await asyncio.sleep(after)
    started = time.perf_counter()
    try:
        last = from_wire(DirectoryEntry, (await org.admin.api.call("GET", "/v1/directory"))["entries"][-1])
        invite = await make_invite(
            org.admin.api,
            admin_name="admin",
            admin_keys=org.admin.keys,
            account="newcomer",
            role="helper",
            today=int(time.time()) // 86400,
            head_seq=last.seq,
            head_hash=last.hash(),
        )
        await join(Api(base, session), invite, AccountKeys.generate(), name="newcomer", now=int(time.time()))
        return True, time.perf_counter() - started, ""
    except Exception as exc:
        return False, time.perf_counter() - started, repr(exc)


# routes the attackers never call: their server-side times are the honest requests' alone
HONEST_ROUTES = ("/v1/cases/{case_id}", "/v1/cases", "/v1/cases/{case_id}/proposals", "/v1/proposals/{proposal_id}/votes",
                 "/v1/reveals", "/v1/reveals/{request_id}", "/v1/reveals/{request_id}/partials")  # fmt: skip


def scrape(port: int) -> dict[str, float]:
    """The server's metrics listener (prometheus text format) as {sample: value}."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] not in ("#", "")}


def server_p99(before: dict[str, float], after: dict[str, float]) -> float:
    """The 99th percentile of the server's own answer times on HONEST_ROUTES between two scrapes, from the
    latency histogram's buckets (the upper bound of the bucket it falls in)."""
    counts: dict[float, float] = {}
    for name, value in after.items():
        if not name.startswith("tessera_request_seconds_bucket{"):
            continue
        labels = dict(part.split("=", 1) for part in name[name.index("{") + 1 : -1].split(","))
        if labels["route"].strip('"') in HONEST_ROUTES:
            bound = float(labels["le"].strip('"'))
            counts[bound] = counts.get(bound, 0.0) + value - before.get(name, 0.0)
    total = counts.get(float("inf"), 0.0)
    return next((bound for bound in sorted(counts) if counts[bound] >= 0.99 * total), float("inf")) if total else 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def all_latencies(stats: Stats) -> list[float]:
    return [v for values in stats.latency.values() for v in values]


async def sample_rss(pid: int, until: float, into: list[int]) -> None:
    while time.monotonic() < until:
        into.append(rss_kib(pid))
        await asyncio.sleep(0.5)


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` onto `cpus` (threads started later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "srv"
        env = {"TESSERA_RATE_LIMIT": "1000000", "PATH": str(BIN)}
        init = subprocess.run(
            [str(BIN / "tessera-server"), "init", "--data", str(data), "--json"], capture_output=True, text=True, check=True
        )
        invite = Invite.decode(json.loads(init.stdout.strip().splitlines()[-1])["invite"])
        if args.body_memory:
            config = data / "tessera-server.toml"
            text = config.read_text()
            config.write_text(text.replace(f"body_memory = {32 << 20}", f"body_memory = {args.body_memory << 20}"))
        port, metrics_port = free_port(), free_port()
        env["TESSERA_METRICS"] = f"{HOST}:{metrics_port}"  # a supervising process and one server process
        base = f"http://{HOST}:{port}"
        log = data.parent / f"{data.name}.{port}.log"
        with running_server(data, port, env=env) as supervisor:
            found = subprocess.run(["pgrep", "-P", str(supervisor.pid)], capture_output=True, text=True, check=True)
            pid = int(found.stdout.split()[0])
            if args.pin:
                first, second = sorted(os.sched_getaffinity(0))[:2]
                pin(supervisor.pid, {first})
                pin(pid, {first})
                pin(os.getpid(), {second})  # the honest clients, and the attacking process started from here
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients * 2)) as session:
                org = await build_org(base, session, invite, helpers=max(1, args.clients - 3))
                rss_start = rss_kib(pid)
                print(f"honest alone: {args.clients} clients, {args.phase:.0f} s", flush=True)
                cpu, own, scraped = cpu_seconds(pid), time.process_time(), scrape(metrics_port)
                quiet: list[int] = []
                (alone, _), _ = await asyncio.gather(
                    honest(org, args.phase), sample_rss(pid, time.monotonic() + args.phase, quiet)
                )
                cpu_alone, cpu = cpu_seconds(pid) - cpu, cpu_seconds(pid)
                own_alone, own = time.process_time() - own, time.process_time()
                rss_before_attack = rss_kib(pid)
                latest = scrape(metrics_port)
                server_alone, scraped = server_p99(scraped, latest), latest
                log_before = log.stat().st_size
                report = Path(tmp) / "attack.json"
                attack = multiprocessing.get_context("spawn").Process(
                    target=attackers,
                    args=(port, args.phase, args.hostile, "admin", args.spray_pause, report, args.only, args.attacker_nice),
                )
                attacked = f"{args.hostile} hostile connections (nice {args.attacker_nice}{', pinned' if args.pin else ''})"
                print(f"honest with {attacked}: {args.phase:.0f} s", flush=True)
                attack.start()
                await asyncio.sleep(2)  # the attackers are connected
                during: list[int] = []
                (under_attack, _), joined, _ = await asyncio.gather(
                    honest(org, args.phase - 2),
                    real_invite_joins(org, base, session, args.phase / 2),
                    sample_rss(pid, time.monotonic() + args.phase - 2, during),
                )
                cpu_attack, own_attack = cpu_seconds(pid) - cpu, time.process_time() - own
                server_attack = server_p99(scraped, scrape(metrics_port))
                attacker_cpu = cpu_seconds(attack.pid) if attack.pid is not None and attack.is_alive() else 0.0
                attack.join(timeout=60)
                if attack.is_alive():
                    attack.kill()
                await asyncio.sleep(args.settle)  # connections closed, timers fired, bodies freed
                rss_after = rss_kib(pid)
                log_growth = log.stat().st_size - log_before
                log_tail = log.read_text()[log_before:]
                # honest alone again: the machine's own drift shows here, not as the attack's doing
                print(f"honest alone again: {args.phase:.0f} s", flush=True)
                scraped = scrape(metrics_port)
                again, _ = await honest(org, args.phase)
                server_again = server_p99(scraped, scrape(metrics_port))
                for kind, values in again.latency.items():
                    alone.latency[kind].extend(values)
                for kind, count in again.errors.items():
                    alone.errors[kind] += count
        attack_report = json.loads(report.read_text()) if report.exists() else {}

    p99_alone = percentile(all_latencies(alone), 99)
    p99_attack = percentile(all_latencies(under_attack), 99)
    failed = sum(under_attack.errors.values())
    peak = max(during or [0])
    print(f"attack: {attack_report.get('slots', 0)} slots at once, {attack_report.get('connections', 0)} connections opened")
    print(
        f"CPU (share of one core): server {cpu_alone / args.phase:.0%} alone, {cpu_attack / (args.phase - 2):.0%} under attack; "
        f"honest clients {own_alone / args.phase:.0%}, {own_attack / (args.phase - 2):.0%}; "
        f"attackers {attacker_cpu / args.phase:.0%}"
    )
    print(
        f"server RSS (MiB): alone median {statistics.median(quiet) / 1024:.1f} peak {max(quiet) / 1024:.1f}; "
        f"under attack median {statistics.median(during or [0]) / 1024:.1f} peak {max(during or [0]) / 1024:.1f}"
    )
    print(f"{'request':<16} {'alone p50':>10} {'alone p99':>10} {'attack p50':>11} {'attack p99':>11} {'count':>7} {'errors':>7}")
    for kind in sorted(set(alone.latency) | set(under_attack.latency)):
        a, b = alone.latency.get(kind, [0.0]), under_attack.latency.get(kind, [0.0])
        print(
            f"{kind:<16} {statistics.median(a) * 1e3:>10.1f} {percentile(a, 99) * 1e3:>10.1f} "
            f"{statistics.median(b) * 1e3:>11.1f} {percentile(b, 99) * 1e3:>11.1f} {len(b):>7} "
            f"{under_attack.errors.get(kind, 0):>7}"
        )
    mib = 1024
    targets = [
        (f"RSS during the attack < 200 MB (peak {peak / mib:.1f} MiB)", peak * 1024 < 200e6),
        (
            f"RSS after within 20 MB of the start (before attack {rss_before_attack / mib:.1f} MiB, after {rss_after / mib:.1f} "
            f"MiB; at start-up {rss_start / mib:.1f} MiB)",
            abs(rss_after - rss_before_attack) * 1024 <= 20e6,
        ),
        (f"no honest request fails ({failed} failed, alone {sum(alone.errors.values())})", failed == 0),
        (
            f"honest p99 <= 2x alone, as the clients see it ({p99_attack * 1e3:.1f} ms vs {p99_alone * 1e3:.1f} ms)",
            p99_attack <= 2 * p99_alone,
        ),
        (
            f"honest p99 <= 2x alone, in the server (<= {server_attack * 1e3:.0f} ms vs <= {server_alone * 1e3:.0f} ms before "
            f"and <= {server_again * 1e3:.0f} ms after: histogram buckets of routes the attackers never call)",
            server_attack <= 2 * max(server_alone, server_again),
        ),
        (f"a real invite joins during the spray ({joined[1]:.2f} s{', ' + joined[2] if joined[2] else ''})", joined[0]),
        (f"the log grows < 1 MB ({log_growth} bytes)", log_growth < 1e6),
    ]
    for text, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    if args.show_log:
        print(log_tail[-4000:])
    return 0 if all(ok for _, ok in targets) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--hostile", type=int, default=1000, help="hostile connections open at once (at most 2000)")
    parser.add_argument("--phase", type=float, default=60, help="seconds of each phase (alone, under attack)")
    parser.add_argument("--settle", type=float, default=35, help="seconds after the attack before RSS is read again")
    parser.add_argument("--spray-pause", type=float, default=1.0, help="seconds between one spray connection's checks")
    parser.add_argument("--body-memory", type=int, default=0, help="the server's body_memory in MiB (default: its own)")
    parser.add_argument("--only", choices=sorted(MIX), help="one kind of attack for all the hostile connections")
    parser.add_argument("--show-log", action="store_true", help="print the end of what the server logged")
    parser.add_argument(
        "--attacker-nice",
        type=int,
        default=0,
        metavar="N",
        help="lower the attacking process's scheduling priority by N (0-19; default 0). Real attackers spend their own "
        "CPU elsewhere on the network; here they share this machine's cores with the server and the honest clients, "
        "so a figure with 19 tells what they make the server do, apart from the CPU their own loop takes",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the server on one CPU and everything else (the honest clients, the attackers) on CPU 1, in every phase: on "
        "a 2-core machine the closest this bench comes to attackers whose own CPU is spent on other machines",
    )
    args = parser.parse_args()
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        parser.error("--pin needs two CPUs")
    if not 0 < args.hostile <= 2000 or not 5 <= args.phase <= 600:
        parser.error("--hostile from 1 to 2000, --phase from 5 to 600 seconds")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
