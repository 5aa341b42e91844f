"""Throughput of the crypto core on one core (issue 2 targets). Run: `make bench`.

Each row is the median of 5 timed runs of a loop; "ops/s" is 1 / median time per operation.
Everything runs in this one process (CPython is single-threaded and libsodium starts no threads),
so the figures are one-core figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from keys import dkg
from keys.accounts import AccountKeys
from keys.council import Participant
from keys.encoding import u16
from keys.envelope import check_envelope, new_case_id, seal_intake
from keys.group import Point, Scalar, self_test
from keys.kem import encapsulate
from keys.keystore import KeystorePolicy, open_keystore, seal_keystore
from keys.keyswitch import contribute_switch, switch_context, verify_contribution
from keys.proofs import prove_dleq, verify_dleq
from keys.reveal import approve_reveal, combine_reveal, prepare_request, request_reveal, verify_partial

NOW = 1_800_000_000


def make_council(k: int, n: int, epoch: int = 1) -> tuple[dkg.DkgResult, dict[int, Scalar], dict[int, AccountKeys]]:
    keys = {i: AccountKeys.generate() for i in range(1, n + 1)}
    parts = tuple(
        Participant(index=i, account=f"m{i}", sign_key=k_.public().sign_key, box_key=k_.public().box_key)
        for i, k_ in keys.items()
    )
    params = dkg.DkgParams(v=2, epoch=epoch, threshold=k, participants=parts, nonce=bytes(16))
    dealt = {i: dkg.deal(params, i, keys[i]) for i in keys}
    commitments = [c for _, c, _ in dealt.values()]
    results = {}
    for j in keys:  # the shares travel encrypted in a real ceremony; this measures the arithmetic
        shares = {i: secret.polynomial.evaluate(j) for i, (secret, _, _) in dealt.items() if secret.polynomial is not None}
        results[j] = dkg.finish(params, j, commitments, shares)
    return results[1], {j: r.share for j, r in results.items()}, keys


def measure(fn: Callable[[], object], loops: int, runs: int = 5) -> float:
    """Median seconds per call."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter() - start) / loops)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer loops (a smoke run, not for the figures)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    self_test()
    result, shares, keys = make_council(3, 5)
    record = result.record
    helper = AccountKeys.generate()

    def seal() -> object:
        return seal_intake(
            case_id=new_case_id(),
            case_file=b'{"kind":"medical","need":"emergency operation"}' * 4,
            identity=b"name" * 40,
            record=record,
            author="helper",
            author_keys=helper,
            reply_secret=b"\x01" * 32,
            head_seq=9,
            head_hash=b"\x02" * 32,
        )

    envelope = seal()
    assert not isinstance(envelope, type)
    env = seal_intake(
        case_id=new_case_id(),
        case_file=b"{}",
        identity=b"x",
        record=record,
        author="h",
        author_keys=helper,
        reply_secret=b"\x01" * 32,
        head_seq=1,
        head_hash=bytes(32),
    )
    request, blinding = request_reveal(
        record=record, header=env.header, case_id=env.case_id, keys=keys[1], purpose="p", case_key=b"k" * 32, expiry=NOW + 99
    )
    prepared = prepare_request(request, record)
    partials = [
        approve_reveal(request, record=record, header=env.header, index=i, share=shares[i], keys=keys[i], now=NOW)
        for i in (1, 2, 3)
    ]
    blinded = Point.decode(request.blinded)
    share_key = record.share_key(2)
    d2 = blinded.mul(shares[2])
    dleq = prove_dleq(shares[2], share_key, blinded, d2, [prepared.context, u16(2)])
    new_result, _new_shares, _ = make_council(3, 5, epoch=2)
    swctx = switch_context(record, new_result.record)
    contribution = contribute_switch(
        old=record, new=new_result.record, index=1, share=shares[1], case_id=env.case_id, header=env.header, swctx=swctx
    )

    def bare_partial() -> None:
        d = blinded.mul(shares[2])
        prove_dleq(shares[2], share_key, blinded, d, [prepared.context, u16(2)])

    def batch_10k() -> None:
        for _ in range(10_000):
            bare_partial()

    helper_file = seal_keystore(b"x" * 200, "pass phrase", KeystorePolicy.helper())
    council_file = seal_keystore(b"x" * 200, "pass phrase", KeystorePolicy.council())

    rows: list[tuple[str, Callable[[], object], int, float | None]] = [
        (
            "intake sealing: identity header (KEM + pi_r)",
            lambda: encapsulate(council_key=record.key, kid=record.kid, case_id=env.case_id, identity_key=b"k" * 32),
            2000,
            3000,
        ),
        ("intake sealing: whole envelope, council of 5", seal, 1000, 3000),
        ("server-side intake check (points + pi_r + wraps)", lambda: check_envelope(envelope, record), 2000, None),  # type: ignore[arg-type]
        ("partial decryption + DLEQ proof", bare_partial, 2000, 3000),
        (
            "member approval incl. header, request checks",
            lambda: approve_reveal(request, record=record, header=env.header, index=2, share=shares[2], keys=keys[2], now=NOW),
            1000,
            None,
        ),
        ("DLEQ proof verification", lambda: verify_dleq(share_key, blinded, d2, dleq, [prepared.context, u16(2)]), 2000, 2000),
        ("partial verification incl. signature", lambda: verify_partial(prepared, partials[1]), 2000, None),
        (
            "combine k=3 partials (verify, unblind, unwrap)",
            lambda: combine_reveal(request, blinding, partials, record=record, header=env.header),
            300,
            None,
        ),
        (
            "re-key contribution (1 member, 1 case)",
            lambda: contribute_switch(
                old=record, new=new_result.record, index=1, share=shares[1], case_id=env.case_id, header=env.header, swctx=swctx
            ),
            1000,
            None,
        ),
        (
            "re-key contribution verification",
            lambda: verify_contribution(contribution, old=record, new=new_result.record, header=env.header, swctx=swctx),
            1000,
            None,
        ),
        ("keystore unlock, helper policy (t=3, 64 MiB)", lambda: open_keystore(helper_file, "pass phrase"), 5, None),
        ("keystore unlock, council policy (t=3, 256 MiB)", lambda: open_keystore(council_file, "pass phrase"), 3, None),
    ]
    print(f"Tessera crypto benchmark (one core, pid {os.getpid()}, median of 5 runs)")
    print(f"{'operation':<52} {'per op':>10} {'ops/s':>9} {'target':>9}  ok")
    missed: list[str] = []
    for name, fn, loops, target in rows:
        per_op = measure(fn, max(1, int(loops * scale)))
        rate = 1 / per_op
        verdict = "" if target is None else ("yes" if rate >= target else "NO")
        if verdict == "NO":
            missed.append(name)
        target_text = "" if target is None else f">={target}"
        print(f"{name:<52} {per_op * 1e3:>8.3f}ms {rate:>9.0f} {target_text:>9}  {verdict}")
    batch = measure(batch_10k, 1, runs=3 if not args.quick else 1)
    verdict = "yes" if batch <= 4.0 else "NO"
    print(f"{'10,000 partial decryptions + proofs (batch)':<52} {batch:>9.2f}s {10_000 / batch:>9.0f} {'<=4 s':>9}  {verdict}")
    if verdict == "NO":
        missed.append("10,000 partial decryptions")
    print("targets missed: " + ("; ".join(missed) if missed else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
