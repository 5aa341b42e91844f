"""Soak: mixed traffic (intakes, listings, case reads, messages, votes, reveals) from N clients against a
real `tessera-server run` process for a given time. Reports throughput, p50/p99/max latency per kind,
errors, and the server's RSS over time (memory must stay flat). Run:
`python -m bench.soak --minutes 10 --clients 50` (the figures in the issue note come from that)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp

from keys.decisions import majority, propose, vote
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, unwrap_case_key
from keys.invites import Invite
from keys.messages import seal_message
from keys.reveal import PartialDecryption, approve_reveal, combine_reveal, request_reveal
from keys.wire import from_wire, to_wire
from tests.support.org import Org, Person, build_org
from tests.support.processes import free_port, running_server

BIN = Path(sys.executable).parent


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    async def timed(self, kind: str, coro: object) -> object:
        start = time.perf_counter()
        try:
            return await coro  # type: ignore[misc]
        except Exception:
            self.errors[kind] += 1
            return None
        finally:
            self.latency[kind].append(time.perf_counter() - start)


async def helper_loop(org: Org, helper: Person, stats: Stats, cases: list[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        envelope = org.seal(helper, case_file=b'{"kind":"food","need":"rice"}' * 6, identity=b"name" * 30)
        if await stats.timed(
            "intake", helper.api.call("PUT", f"/v1/cases/{b64u_encode(envelope.case_id)}", body=to_wire(envelope))
        ):
            cases.append(envelope.case_id)
        await asyncio.sleep(random.uniform(0.0, 0.2))


async def member_loop(org: Org, member: Person, stats: Stats, cases: list[bytes], deadline: float) -> None:
    record = org.record
    while time.monotonic() < deadline:
        await stats.timed("list", member.api.call("GET", "/v1/cases", query={"state": "open", "limit": 50}))
        if not cases:
            await asyncio.sleep(0.1)
            continue
        case_id = random.choice(cases)
        path = f"/v1/cases/{b64u_encode(case_id)}"
        raw = await stats.timed("read", member.api.call("GET", path))
        if not raw:
            continue
        envelope = from_wire(IntakeEnvelope, raw["envelope"])  # type: ignore[index]
        case_key = unwrap_case_key(member.keys, case_id, envelope.wraps[0])
        choice = random.random()
        if choice < 0.4:
            readers = [m.box_key for m in record.members] + [envelope.reply_box_key]
            message = seal_message(
                case_id=case_id, thread="case", text="we are on it", author=member.name, author_keys=member.keys, readers=readers
            )
            await stats.timed("message", member.api.call("POST", f"{path}/messages", body=to_wire(message)))
        elif choice < 0.7:
            proposal = propose(
                case_id=case_id,
                case_key=case_key,
                action="request-info",
                note="more detail please",
                epoch=record.epoch,
                needed=majority(len(record.members)),
                head_seq=org.state.seq,
                head_hash=org.state.head,
                keys=member.keys,
            )
            if await stats.timed("propose", member.api.call("POST", f"{path}/proposals", body=to_wire(proposal))):
                ballot = vote(
                    proposal=proposal, approve=False, head_seq=org.state.seq, head_hash=org.state.head, keys=member.keys
                )
                await stats.timed(
                    "vote",
                    member.api.call("POST", f"/v1/proposals/{b64u_encode(proposal.proposal_id)}/votes", body=to_wire(ballot)),
                )
        else:
            await reveal(org, member, envelope, case_key, stats)


async def reveal(org: Org, member: Person, envelope: IntakeEnvelope, case_key: bytes, stats: Stats) -> None:
    record = org.record
    request, blinding = request_reveal(
        record=record,
        header=envelope.header,
        case_id=envelope.case_id,
        keys=member.keys,
        purpose="soak",
        case_key=case_key,
        expiry=int(time.time()) + 600,
    )
    if not await stats.timed("reveal-request", member.api.call("POST", "/v1/reveals", body=to_wire(request))):
        return
    rid = b64u_encode(request.request_id)
    for other in org.council[:2]:
        index = record.member_by_sign_key(other.keys.public().sign_key).index  # type: ignore[union-attr]
        partial = approve_reveal(
            request,
            record=record,
            header=envelope.header,
            index=index,
            share=other.share(record.epoch),
            keys=other.keys,
            now=int(time.time()),
        )
        await stats.timed("reveal-approve", other.api.call("POST", f"/v1/reveals/{rid}/partials", body=to_wire(partial)))
    answer = await stats.timed("reveal-fetch", member.api.call("GET", f"/v1/reveals/{rid}"))
    if answer:
        partials = [from_wire(PartialDecryption, p) for p in answer["partials"]]  # type: ignore[index]
        try:
            combine_reveal(request, blinding, partials, record=record, header=envelope.header)
        except Exception:
            stats.errors["reveal-combine"] += 1


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "srv"
        env = {"TESSERA_RATE_LIMIT": "1000000", "PATH": str(BIN)}
        init = subprocess.run(
            [str(BIN / "tessera-server"), "init", "--data", str(data), "--json"], capture_output=True, text=True, check=True
        )
        invite = Invite.decode(json.loads(init.stdout.strip().splitlines()[-1])["invite"])
        port = free_port()
        with running_server(data, port, env={**env}) as process:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients * 2)) as session:
                org = await build_org(f"http://127.0.0.1:{port}", session, invite, helpers=max(1, args.clients - 3))
                stats, cases = Stats(), []
                deadline = time.monotonic() + args.minutes * 60
                rss: list[tuple[float, int]] = []

                async def sample() -> None:
                    start = time.monotonic()
                    while time.monotonic() < deadline:
                        rss.append((time.monotonic() - start, rss_kib(process.pid)))
                        await asyncio.sleep(args.sample_seconds)

                started = time.monotonic()
                await asyncio.gather(
                    sample(),
                    *(helper_loop(org, h, stats, cases, deadline) for h in org.helpers),
                    *(member_loop(org, m, stats, cases, deadline) for m in org.council),
                )
                elapsed = time.monotonic() - started
    total = sum(len(v) for v in stats.latency.values())
    errors = sum(stats.errors.values())
    print(f"soak: {args.clients} clients ({len(org.helpers)} helpers, 3 council members), {elapsed / 60:.1f} min")
    print(f"{'request':<16} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    for kind, values in sorted(stats.latency.items()):
        print(
            f"{kind:<16} {len(values):>7} {len(values) / elapsed:>7.1f} {statistics.median(values) * 1e3:>8.1f} "
            f"{percentile(values, 99) * 1e3:>8.1f} {max(values) * 1e3:>8.1f} {stats.errors[kind]:>7}"
        )
    print(f"{'all':<16} {total:>7} {total / elapsed:>7.1f} {'':>8} {'':>8} {'':>8} {errors:>7}")
    if stats.errors.get("reveal-combine"):
        print(f"reveal-combine failures: {stats.errors['reveal-combine']}")
    first = [kib for t, kib in rss if t < elapsed * 0.2] or [0]
    last = [kib for t, kib in rss if t > elapsed * 0.8] or [0]
    print("server RSS (MiB) over time: " + " ".join(f"{kib / 1024:.0f}" for _, kib in rss[:: max(1, len(rss) // 20)]))
    print(
        f"RSS first fifth {statistics.mean(first) / 1024:.1f} MiB, last fifth {statistics.mean(last) / 1024:.1f} MiB, "
        f"peak {max(k for _, k in rss) / 1024:.1f} MiB"
    )
    return 1 if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--sample-seconds", type=float, default=5)
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
