"""Cost per anonymous submission token (keys/tokens.py, on the VOPRF of keys/voprf.py over edwards25519).

For batches of 1, 10 and 100 tokens: the client's request (N blinds), the server's issuance (N
evaluations and one batched DLEQ proof), the client's finish (the proof's verification and N unblindings),
and per token the server's redemption check (one Evaluate). Each figure is the median of 5 timed runs,
divided by the batch size; one core (CPython is single-threaded, libsodium starts no threads).
Run: `python -m bench.tokens [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from keys import tokens
from keys.group import self_test


def measure(fn: Callable[[], object], loops: int, runs: int = 5) -> float:
    """Median seconds per call."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter() - start) / loops)
    return statistics.median(times)


def per_token(key: tokens.TokenKeyPair, batch: int, loops: int) -> list[float]:
    """Seconds per token for request, issue, finish and redeem at this batch size."""
    request, pending = tokens.request_tokens(key.public, batch)
    response = tokens.issue_tokens(key, request)
    token = tokens.finish_tokens(pending, response)[0]
    batch_loops = max(1, loops // batch)
    return [
        measure(lambda: tokens.request_tokens(key.public, batch), batch_loops) / batch,
        measure(lambda: tokens.issue_tokens(key, request), batch_loops) / batch,
        measure(lambda: tokens.finish_tokens(pending, response), batch_loops) / batch,
        measure(lambda: tokens.check_token(key, token), loops),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer loops (a smoke run, not for the figures)")
    args = parser.parse_args()
    self_test()
    key = tokens.generate_token_key(1)
    loops = 100 if args.quick else 2000
    print(f"Tessera token benchmark (one core, pid {os.getpid()}, median of 5 runs, microseconds per token)")
    print(f"{'batch':>5} {'request':>9} {'issue':>9} {'finish':>9} {'redeem':>9} {'all four':>9}")
    for batch in (1, 10, 100):
        per = per_token(key, batch, loops)
        cells = " ".join(f"{p * 1e6:>9.0f}" for p in per)
        print(f"{batch:>5} {cells} {sum(per) * 1e6:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
