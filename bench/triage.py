"""`cases list` for a council member: whole cases a page at a time (`GET /v1/case-pages`, what the command does)
against one `GET /v1/cases/{id}` per case (what it would do without the page route), on a real server process.
Run: `python -m bench.triage [--cases 2000]`.

Both open and check every case on the device the same way (casefiles: unwrap, AEAD, the helper's signature, the
author in the verified directory). The server's per-minute request limit is lifted for the run, so the times
show the work; the request counts show what the limit (600 a minute per account by default) does to each: one
request per case needs at least `cases / 600` minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp

from client.api import Api
from client.casefiles import open_case
from client.home import Home
from client.triage import WORKERS, council_cases
from keys.directory import DirectoryState
from keys.encoding import b64u_encode, canonical_json
from keys.invites import Invite
from keys.wire import to_wire
from tests.support.org import Org, build_org
from tests.support.processes import free_port, running_server

BIN = Path(sys.executable).parent


class CountingApi(Api):
    """An Api that counts the requests it sends."""

    sent = 0

    async def call(self, method: str, path: str, **kwargs: object) -> object:  # type: ignore[override]
        CountingApi.sent += 1
        return await super().call(method, path, **kwargs)  # type: ignore[arg-type]


def member_home(org: Org, tmp: Path) -> Home:
    member = org.council[0]
    state = {"account": member.name, "role": "council", "sign_seed": b64u_encode(member.keys.sign_seed),
             "box_secret": b64u_encode(member.keys.box_secret)}  # fmt: skip
    return Home(tmp, None, state)


async def open_each(api: Api, home: Home, state: DirectoryState, queue: Iterator[str]) -> None:
    """One of WORKERS tasks sharing `queue`: open each case with its own request."""
    for case_id in queue:
        await open_case(api, home, case_id, state)


async def submit(org: Org, count: int) -> None:
    helper = org.helpers[0]
    body = {"region": "Jilin", "urgency": "high", "narrative": "the situation and the need, without names " * 6}
    case_file = canonical_json({"kind": "medical", "schema": 1, "fields": body})
    for start in range(0, count, 50):
        envelopes = [org.seal(helper, case_file=case_file, identity=b'{"full_name":"x"}') for _ in range(min(50, count - start))]
        await asyncio.gather(*(helper.api.call("PUT", f"/v1/cases/{b64u_encode(e.case_id)}", body=to_wire(e)) for e in envelopes))


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "srv"
        env = {**os.environ, "TESSERA_RATE_LIMIT": "1000000"}
        init = subprocess.run(
            [str(BIN / "tessera-server"), "init", "--data", str(data), "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        invite = Invite.decode(json.loads(init.stdout.strip().splitlines()[-1])["invite"])
        port = free_port()
        with running_server(data, port, env=env):
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session:
                org = await build_org(base, session, replace(invite, server=base), 1)
                print(f"submitting {args.cases} cases...", flush=True)
                await submit(org, args.cases)
                home = member_home(org, Path(tmp))
                member = org.council[0]
                api = CountingApi(base, session, keys=member.keys, principal=member.name)
                state = org.state
                for round_no in range(args.runs):
                    CountingApi.sent = 0
                    started = time.perf_counter()
                    views = await council_cases(api, home, state)
                    paged, paged_requests = time.perf_counter() - started, CountingApi.sent
                    assert len(views) == args.cases and not [v for v in views if v.problem]
                    CountingApi.sent = 0
                    started = time.perf_counter()
                    ids, cursor = [], None
                    while True:
                        page = await api.call("GET", "/v1/cases", query={"cursor": cursor, "limit": 200})
                        ids += [r["case_id"] for r in page["cases"]]
                        cursor = page["next_cursor"]
                        if cursor is None:
                            break
                    await asyncio.gather(*(open_each(api, home, state, queue) for queue in [iter(ids)] * WORKERS))
                    single, single_requests = time.perf_counter() - started, CountingApi.sent
                    limited = single_requests / 600
                    print(
                        f"round {round_no + 1}: pages {paged:.2f} s in {paged_requests} requests; one per case "
                        f"{single:.2f} s in {single_requests} requests (at 600/min: at least {limited:.1f} min)",
                        flush=True,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
