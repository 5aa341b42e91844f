"""Attachment transfer over loopback (issue 6). Run: `python -m bench.attachments [--mib 1024] [--rounds 3] [--no-backup]`.

On the same file, in each round and taking turns per direction (this machine's disk speed drifts by a
factor of two within minutes, so a ratio is taken within a round and the median of rounds reported):
- reference: a bare aiohttp server that streams a PUT body into a file (fsync at the end) and streams a
  file back in 1 MiB reads, and a bare aiohttp client that streams the file up and the answer down;
- Tessera: `tessera attach` (seal with secretstream on the device, upload in signed 8 MiB parts, each
  stored in SQLite in one fsync'd transaction) and `tessera cases fetch-attachment` (stream, check,
  decrypt, write, fsync) as real client processes against a real `tessera-server run` process.
Targets: each Tessera direction at least half the reference speed; peak RSS of the server and of each
client process under 150 MB. Peak RSS is VmHWM from /proc, for the server and for each client process.
CPU time: each transfer's client and server together (user and system, threads included; the child's from
getrusage, the server's from /proc while the child ran). Client and server share this machine's cores, so a
transfer cannot take less than its CPU time divided by the cores: the reference's time over that bound is
the best ratio Tessera's work allows here, printed beside the ratio measured.
Then `tessera-server backup` of the database holding every round's attachment (time and peak RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from client.demo import Demo

# The measured clients are child processes running this module: it imports at its top only what they all
# need, so each side's time holds its own start-up (aiohttp for the reference, the CLI for Tessera) and no
# more. The set-up's imports (pytest among them, through the e2e helpers: about 2 s here) live in `run`.

MIB = 1 << 20
PASSPHRASE = "bench passphrase of six whole words"

CEREMONY_STEP = ("council", "ceremony", "step", "--yes", "--accept-unverified")


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a running process has used (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timed(NamedTuple):
    seconds: float
    peak_rss: float  # MiB, of the child
    out: str
    client_cpu: float  # CPU seconds of the child
    server_cpu: float  # and of the server it talked to, meanwhile


def timed(argv: list[str], env: dict[str, str], server: int | None = None) -> Timed:
    """Run a child process (a client, talking to the server process `server`) and wait for it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = cpu_seconds(server) if server is not None else 0.0
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    server_cpu = cpu_seconds(server) - server_before if server is not None else 0.0
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed: {err.decode()[-500:]}")
    # each measured child reports its own peak in a trailer line (see `child`)
    peak = float(err.decode().rsplit("peak_rss_mib=", 1)[1].split()[0]) if "peak_rss_mib=" in err.decode() else float("nan")
    return Timed(seconds, peak, out.decode(), client_cpu, server_cpu)


def make_file(path: Path, size: int) -> None:
    block = os.urandom(64 * MIB)
    with path.open("wb") as handle:
        left = size
        while left:
            handle.write(block[: min(left, len(block))])
            left -= min(left, len(block))


# -- the reference: bare aiohttp ------------------------------------------------------------------


def reference_server(port: int, store: Path) -> None:
    from aiohttp import web

    async def put(request: web.Request) -> web.Response:
        with (store / "upload.bin").open("wb") as handle:
            async for data in request.content.iter_chunked(MIB):
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return web.json_response({"ok": True})

    async def get(request: web.Request) -> web.StreamResponse:
        path = store / "upload.bin"
        response = web.StreamResponse(headers={"Content-Length": str(path.stat().st_size)})
        await response.prepare(request)
        with path.open("rb") as handle:
            while data := handle.read(MIB):
                await response.write(data)
        await response.write_eof()
        return response

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1 << 40)
    app.router.add_put("/upload", put)
    app.router.add_get("/download", get)
    app.router.add_get("/v1/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def reference_client(mode: str, url: str, path: Path) -> None:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        if mode == "up":
            with path.open("rb") as handle:
                async with session.put(f"{url}/upload", data=handle) as response:
                    assert response.status == 200
        else:
            async with session.get(f"{url}/download") as response:
                with path.open("wb") as handle:
                    async for data in response.content.iter_chunked(MIB):
                        handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())


def child(argv: list[str]) -> None:
    """Run a measured client in this process and report its peak RSS on stderr (VmHWM: ru_maxrss would
    include the parent's size at fork, which survives exec)."""
    if argv[0] == "ref":
        asyncio.run(reference_client(argv[1], argv[2], Path(argv[3])))
        code = 0
    elif argv[0] == "server":
        from server.main import main as tessera_server

        code = tessera_server(argv[1:])
    else:
        from client.home import KdfPolicy, use_kdf_policy
        from client.main import main as tessera

        use_kdf_policy(KdfPolicy.insecure_fast())  # throwaway homes: what is measured is the transfer
        code = tessera(argv[1:])
    print(f"peak_rss_mib={vm_hwm_mib(os.getpid()):.1f}", file=sys.stderr)
    sys.exit(code)


# -- the run ----------------------------------------------------------------------------------------


def run(size: int, rounds: int, *, backup: bool = True) -> None:
    from client.demo import Demo
    from client.home import KdfPolicy, use_kdf_policy
    from client.main import main as tessera
    from tests.support.processes import environment, free_port, init_server, running_server

    env = {**environment(), "TESSERA_PASSPHRASE": PASSPHRASE, "TESSERA_RATE_LIMIT": "100000"}
    me = [sys.executable, "-m", "bench.attachments", "--child"]
    with tempfile.TemporaryDirectory(prefix="tessera-bench-", dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        source = root / "video.bin"
        make_file(source, size)
        print(f"file: {size / MIB:.0f} MiB of random bytes, loopback, this machine ({os.cpu_count()} cores); {rounds} rounds,")
        print("in each the reference and Tessera take turns per direction (the disk's speed drifts within minutes)")
        store = root / "ref"
        store.mkdir()
        ref_port = free_port()
        reference = subprocess.Popen([*me[:3], "--reference-server", str(ref_port), str(store)], env=env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        invite = init_server(root / "srv", url)
        times: dict[str, list[float]] = {"ref up": [], "ref down": [], "up": [], "down": []}
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in times}  # (client, server)
        client_rss: list[float] = []

        def measure(name: str, argv: list[str], server: int) -> str:
            result = timed(argv, env, server)
            times[name].append(result.seconds)
            cpu[name].append((result.client_cpu, result.server_cpu))
            if not name.startswith("ref"):
                client_rss.append(result.peak_rss)
            return result.out

        try:
            _wait(ref_port)
            with running_server(root / "srv", port, env=env) as process:
                os.environ["TESSERA_PASSPHRASE"] = env["TESSERA_PASSPHRASE"]
                use_kdf_policy(KdfPolicy.insecure_fast())
                demo = Demo(root, port, tessera)
                _organisation(demo, invite, root)
                form = str(_form(root))
                case = demo.tessera("hana", "intake", "submit", "--kind", "food-distribution", "--form", form).split()[-1]
                homes, back = root / "homes", root / "back.bin"
                ref_url = f"http://127.0.0.1:{ref_port}"
                for round_no in range(rounds):
                    measure("ref up", [*me, "ref", "up", ref_url, str(source)], reference.pid)
                    attach = [*me, "tessera", "--home", str(homes / "hana"), "attach", case, str(source), "--case-file"]
                    attachment = measure("up", attach, process.pid).strip().splitlines()[-1]
                    measure("ref down", [*me, "ref", "down", ref_url, str(root / "ref-back.bin")], reference.pid)
                    fetch = [*me, "tessera", "--home", str(homes / "kim"), "cases", "fetch-attachment", case, attachment]
                    measure("down", [*fetch, "--out", str(back)], process.pid)
                    same = _same(source, back)
                    up_ratio = times["ref up"][-1] / times["up"][-1]
                    down_ratio = times["ref down"][-1] / times["down"][-1]
                    mib = size / MIB
                    print(
                        f"  round {round_no + 1}: upload tessera {mib / times['up'][-1]:6.1f} MiB/s, reference "
                        f"{mib / times['ref up'][-1]:6.1f} (ratio {up_ratio:.2f}); download tessera "
                        f"{mib / times['down'][-1]:6.1f}, reference {mib / times['ref down'][-1]:6.1f} (ratio {down_ratio:.2f});"
                        f" file equal: {same}",
                        flush=True,
                    )
                    back.unlink()
                    (root / "ref-back.bin").unlink()
                    if not same:
                        raise RuntimeError("the downloaded file differs from the original")
                server_rss = vm_hwm_mib(process.pid)
                ref_server_rss = vm_hwm_mib(reference.pid)
        finally:
            reference.terminate()
            reference.wait()
        if backup:
            backup_argv = [*me, "server", "backup", "--data", str(root / "srv"), "--out", str(root / "b.tgz")]
            backup_seconds, backup_rss, *_ = timed(backup_argv, env)

    up_ratios = [r / t for r, t in zip(times["ref up"], times["up"], strict=True)]
    down_ratios = [r / t for r, t in zip(times["ref down"], times["down"], strict=True)]
    speed = {name: size / MIB / statistics.median(values) for name, values in times.items()}
    print(f"median of rounds: upload tessera {speed['up']:.1f} MiB/s, reference {speed['ref up']:.1f}; download tessera")
    print(f"  {speed['down']:.1f} MiB/s, reference {speed['ref down']:.1f}; reference server peak RSS {ref_server_rss:.1f} MiB")
    cores = len(os.sched_getaffinity(0))
    # A transfer takes at least its CPU time spread over every core; the reference's time over that bound is
    # the best ratio Tessera's work allows on this machine, however well its client and server overlap.
    ceiling = {
        way: statistics.median(r / (sum(c) / cores) for r, c in zip(times[f"ref {way}"], cpu[way], strict=True))
        for way in ("up", "down")
    }

    def cpu_of(name: str) -> str:
        client, server = (statistics.median(values) for values in zip(*cpu[name], strict=True))
        return f"{client + server:.2f} ({client:.2f} + {server:.2f})"

    print(
        f"CPU seconds per transfer, client + server (medians): upload tessera {cpu_of('up')}, reference {cpu_of('ref up')};"
    )
    print(f"  download tessera {cpu_of('down')}, reference {cpu_of('ref down')}")
    print(
        f"  on {cores} cores Tessera's CPU time alone caps the ratio at: upload {ceiling['up']:.2f}, "
        f"download {ceiling['down']:.2f}"
    )
    if backup:
        print(f"tessera-server backup holding the {rounds} attachments: {backup_seconds:.1f} s, peak RSS {backup_rss:.1f} MiB")
    print(
        f"ratio upload median {statistics.median(up_ratios):.2f} (rounds {min(up_ratios):.2f}..{max(up_ratios):.2f}), "
        f"download median {statistics.median(down_ratios):.2f} ({min(down_ratios):.2f}..{max(down_ratios):.2f}) "
        f"(target >= 0.5 each); peak RSS server {server_rss:.0f} MiB, clients {max(client_rss):.0f} MiB (target < 150)"
    )


def _same(a: Path, b: Path) -> bool:
    with a.open("rb") as x, b.open("rb") as y:
        while True:
            p, q = x.read(8 * MIB), y.read(8 * MIB)
            if p != q:
                return False
            if not p:
                return True


def _wait(port: int) -> None:
    import urllib.request

    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the reference server did not start")


def _organisation(demo: Demo, invite: str, root: Path) -> None:
    demo.tessera("admin", "join", invite, "--name", "admin")
    for name, role in (("kim", "council"), ("lee", "council"), ("park", "council"), ("hana", "helper")):
        demo.tessera(
            name, "join", demo.tessera("admin", "admin", "invite", "--role", role, "--name", name).strip(), "--name", name
        )
    demo.tessera("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
    for _ in range(6):
        if all(["done" in demo.tessera(m, *CEREMONY_STEP) for m in ("kim", "lee", "park")]):
            return
    raise RuntimeError("the key ceremony did not finish")


def _form(root: Path) -> Path:
    from client.demo import FORMS

    path = root / "food-distribution.toml"
    path.write_text(FORMS["food-distribution"], encoding="utf-8")
    return path


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--reference-server":
        reference_server(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each transfer, taking turns (default 3)")
    parser.add_argument("--no-backup", action="store_true", help="skip the backup measured after the transfers")
    args = parser.parse_args()
    run(args.mib * MIB, args.rounds, backup=not args.no_backup)


if __name__ == "__main__":
    main()
