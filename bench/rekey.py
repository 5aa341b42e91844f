"""A full council re-key end to end against a real `tessera-server run` process (SQLite), over loopback:
N intakes, a key ceremony for the new key, two old members' contributions (each checks every header,
computes its part with a proof, and the server verifies every part on arrival), then two new members'
attestations (each re-verifies every part and the combination). Prints each step's time, the rate, and
the peak RSS of the server and of this client process. Run: `python -m bench.rekey [--cases 2000]`.

Issue 5 targets for 100,000 cases: one member's contribution <= 60 s, verifying all contributions <= 3 min,
memory under 200 MB. `bench/lifecycle.py` measures the crypto alone at that scale; this adds the server,
the database and the client's checks, at a size a bench run can afford, and extrapolates linearly."""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

import aiohttp

from client import rekey
from client.api import Api
from client.ceremony import step_member
from keys.directory import DirectoryEntry, DirectoryState, replay_to_pin
from keys.encoding import b64u_encode
from keys.invites import Invite
from keys.wire import from_wire, to_wire
from tests.support.org import build_org
from tests.support.processes import free_port, init_server, running_server

TARGET_CASES = 100_000


def peak_rss_mib(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def directory(api: Api) -> DirectoryState:
    entries = [from_wire(DirectoryEntry, e) for e in (await api.call("GET", "/v1/directory"))["entries"]]
    return replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash())


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "srv"
        env = {**os.environ, "TESSERA_RATE_LIMIT": "1000000"}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        invite = Invite.decode(init_server(data, base))
        with running_server(data, port, env=env) as process:
            async with aiohttp.ClientSession() as session:
                org = await build_org(base, session, invite, 8)
                print(f"submitting {args.cases:,} intakes...", flush=True)

                async def submit(helper_index: int) -> None:
                    helper = org.helpers[helper_index]
                    for _ in range(helper_index, args.cases, len(org.helpers)):
                        envelope = org.seal(helper)
                        await helper.api.call("PUT", f"/v1/cases/{b64u_encode(envelope.case_id)}", body=to_wire(envelope))

                await asyncio.gather(*(submit(i) for i in range(len(org.helpers))))
                names = [p.name for p in org.council]
                t = time.perf_counter()
                await org.admin.api.call("POST", "/v1/ceremonies", body={"v": 1, "threshold": 2, "members": names})
                for _ in range(8):
                    if all([(await step_member(p.api, p.keys, p.secrets)).done for p in org.council]):
                        break
                print(f"key ceremony for the new key: {time.perf_counter() - t:.2f} s")
                state = await directory(org.admin.api)
                timings = {}
                for member in org.council[:2]:
                    t = time.perf_counter()
                    done = await rekey.contribute(member.api, member.keys, member.secrets, state, lambda d, total: None)
                    timings[f"contribute {member.name}"] = time.perf_counter() - t
                    assert done == args.cases
                for member in org.council[1:3]:
                    t = time.perf_counter()
                    answer = await rekey.attest(member.api, member.keys, state, lambda d, total: None)
                    timings[f"attest {member.name}"] = time.perf_counter() - t
                status = await org.admin.api.call("GET", "/v1/rekey")
                assert status["state"] == "done" and answer["state"] == "done", status
                server_rss = peak_rss_mib(process.pid)
    scale = TARGET_CASES / args.cases
    print(f"\nfull re-key of {args.cases:,} cases, 2 of 3, SQLite, loopback, 2 cores")
    print(f"{'step':<22} {'seconds':>8} {'cases/s':>8} {'at 100,000':>11}")
    for step, seconds in timings.items():
        print(f"{step:<22} {seconds:>8.2f} {args.cases / seconds:>8,.0f} {seconds * scale:>9.0f} s")
    print("targets at 100,000: a member's contribution <= 60 s; verifying all contributions <= 180 s")
    print("(an attestation re-verifies all k contributions of every case: it is the 'verify all' step)")
    print(f"peak RSS: server {server_rss:.0f} MiB, this client {peak_rss_mib():.0f} MiB (target < 200 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="intakes to store and switch (default 2000)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
