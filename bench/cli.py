"""The time a council member waits for `tessera cases list` (issue 21): its real keystore settings (council
policy, Argon2id t=3 with 256 MiB), the real `tessera` program as its own process, a real `tessera-server run`
on loopback. Target: within 1.3 times one unlock plus the interpreter's start.

Measured in turns for `--rounds` rounds, medians reported (this machine's speed drifts within minutes):
  start      `python -c pass`: the interpreter's start
  imports    `python -c "import client.main"`: the interpreter with the program's imports (for context)
  unlock     one `open_keystore` of the member's keystore file, in this process: one Argon2id and the AEAD
  list       `tessera --home kim cases list`: unlock, fetch and verify the directory, list, print
  saving     the same right after a helper rotated keys: kim's device notes it and moves its pin, so the
             command saves the home (before issue 21, each save was one more Argon2id)
and the number of Argon2id derivations `cases list` runs (in this process, the same code; must be 1, saving or not).
Run: `python -m bench.cli` (or `make bench`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
PASSPHRASE = "six words at least here for everyone"
COUNCIL = ("kim", "lee", "park")


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} failed: {result.stderr[-500:]}")
    return seconds


def count_derivations(run: Callable[[], object]) -> int:
    import keys.keystore

    real = keys.keystore._derive
    seen: list[int] = []

    def counted(passphrase: str, salt: bytes, policy: keys.keystore.KeystorePolicy) -> bytes:
        seen.append(1)
        return real(passphrase, salt, policy)

    keys.keystore._derive = counted
    try:
        run()
    finally:
        keys.keystore._derive = real
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", type=int, default=20, help="intakes in the list (default 20)")
    args = parser.parse_args()

    from client.demo import FORMS, Demo
    from client.home import KEYSTORE, Home, KdfPolicy, use_kdf_policy
    from client.main import main as tessera
    from keys.keystore import open_keystore
    from tests.support.processes import environment, free_port, init_server, running_server

    env = {**environment(), "TESSERA_PASSPHRASE": PASSPHRASE, "TESSERA_RATE_LIMIT": "100000"}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-cli-") as tmp:
        root = Path(tmp)
        port = free_port()
        invite = init_server(root / "srv", f"http://127.0.0.1:{port}")
        with running_server(root / "srv", port, env=env):
            # the organisation is built quickly (cheap keystores), then kim's home gets the real council cost
            os.environ["TESSERA_PASSPHRASE"] = PASSPHRASE
            before = use_kdf_policy(KdfPolicy.insecure_fast())
            demo = Demo(root, port, tessera)
            demo.tessera("admin", "join", invite, "--name", "admin")
            for name, role in (*((m, "council") for m in COUNCIL), ("hana", "helper")):
                made = demo.tessera("admin", "admin", "invite", "--role", role, "--name", name).strip()
                demo.tessera(name, "join", made, "--name", name)
            demo.tessera("admin", "council", "ceremony", "start", "--threshold", "2", "--members", ",".join(COUNCIL))
            step = ("council", "ceremony", "step", "--yes", "--accept-unverified")
            for _ in range(6):
                if all(["done" in demo.tessera(m, *step) for m in COUNCIL]):
                    break
            form = root / "food.toml"
            for _ in range(args.cases):
                form.write_text(FORMS["food-distribution"], encoding="utf-8")  # submit may remove it
                demo.tessera("hana", "intake", "submit", "--kind", "food-distribution", "--form", str(form))
            use_kdf_policy(before)  # the standard costs from here on
            kim = root / "homes" / "kim"
            Home.open(kim, PASSPHRASE)  # raises kim's keystore to the council cost (t=3, 256 MiB)
            keystore = (kim / KEYSTORE).read_bytes()
            policy = open_keystore(keystore, PASSPHRASE).policy
            def directory_moves() -> None:  # hana rotates her keys (her home stays cheap: not what is measured)
                use_kdf_policy(KdfPolicy.insecure_fast())
                try:
                    demo.tessera("hana", "rotate-keys")
                finally:
                    use_kdf_policy(before)

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                derivations = count_derivations(lambda: demo.tessera("kim", "cases", "list"))
                directory_moves()
                saving_derivations = count_derivations(lambda: demo.tessera("kim", "cases", "list"))
            tessera = [str(BIN / "tessera"), "--home", str(kim), "cases", "list"]
            print(f"kim's keystore: Argon2id t={policy.t_cost}, {policy.m_kib // 1024} MiB; {args.cases} cases listed; "
                  f"{os.cpu_count()} cores; {args.rounds} rounds")
            times: dict[str, list[float]] = {"start": [], "imports": [], "unlock": [], "list": [], "saving": []}
            for _ in range(args.rounds):
                times["start"].append(wall([sys.executable, "-c", "pass"], env))
                times["imports"].append(wall([sys.executable, "-c", "import client.main"], env))
                clock = time.perf_counter()
                open_keystore(keystore, PASSPHRASE)
                times["unlock"].append(time.perf_counter() - clock)
                times["list"].append(wall(tessera, env))
                directory_moves()
                times["saving"].append(wall(tessera, env))
    median = {name: statistics.median(values) for name, values in times.items()}
    for name, value in median.items():
        spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        print(f"  {name:<8} median {value:.3f} s  (range {spread})")
    bound = median["unlock"] + median["start"]
    print(f"Argon2id derivations in `cases list`: {derivations}, when it saves the home: {saving_derivations} (target 1)")
    ratio = median["list"] / bound
    print(f"cases list / (unlock + interpreter start) = {median['list']:.3f} / {bound:.3f} = {ratio:.2f} (target <= 1.3)")
    with_imports = median["unlock"] + median["imports"]
    print(f"cases list / (unlock + interpreter with the program's imports) = {median['list'] / with_imports:.2f}")


if __name__ == "__main__":
    main()
