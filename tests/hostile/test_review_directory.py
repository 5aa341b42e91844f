"""Review of main after issues 18 and 25: a directory entry's `day` was chosen by the server, covered by no
signature (keys/directory.py `entry_message` signed kind, seq, prev and payload) and checked by no client, yet the
witness rule takes the current council's age from it (keys/witness.py: no cosignature is needed while the
council entry is at most seven days old). A server that dated the council's entry in the future switched the
seven-day freeze bound off for that council's whole life. Fixed: every signer signs the entry's day (its own
today); the server refuses a signed day more than a day from its own; a chain whose days go backwards, or whose
last entry is dated after the reader's tomorrow, is refused.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from keys.checkpoints import sign_checkpoint
from keys.council import EpochRecord
from keys.wire import from_wire, to_wire
from keys.witness import DAY
from tests.hostile.lies import entries_of, rechain, server_keys
from tests.hostile.review import receipting, rekey_key_ceremony, sent_envelopes
from tests.support.harness import FOOD, Org, run_ceremony

LATER = 40 * DAY  # how long after the re-key hana submits


class _Later:
    """hana's clock, forty days on (only where her client judges how old the directory is)."""

    @staticmethod
    def time() -> float:
        return time.time() + LATER


def test_review_a_council_entry_dated_in_the_future_does_not_switch_off_the_freeze_bound(
    bare_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stores the council's first epoch with its entry dated ten years ahead; later the council
    re-keys (epoch 2). Forty days on, the server serves hana the directory as it stood before the re-key, with
    a checkpoint it signs for her today and no cosignature at all. Seen on main: her client counted the epoch-1
    council as younger than seven days, needed no witness, and sealed her intake to the retired key. Now the
    members signed the entry's true day, so the future-dated entry does not verify, and nothing is sealed."""
    org = bare_org
    org.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
    run_ceremony(org)
    org.ok("hana", "sync")  # hana pins the epoch-1 directory
    rekey_key_ceremony(org)
    server = server_keys(org.root)
    today = int(_Later.time()) // DAY

    def before_the_re_key(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        entries = entries_of(body)
        last_epoch = max(i for i, e in enumerate(entries) if e.kind == "council-epoch")
        kept = entries[:last_epoch]
        first = next(i for i, e in enumerate(kept) if e.kind == "council-epoch")
        later = [replace(e, day=e.day + 3650) for e in kept[first:]]  # what the server would have stored
        kept = rechain([*kept[:first], *later])
        checkpoint = sign_checkpoint(kept[-1].seq, kept[-1].hash(), today, server)
        return {**body, "entries": [to_wire(e) for e in kept], "checkpoint": to_wire(checkpoint), "cosignatures": []}

    org.relay.rewrite("GET", r"/v1/directory", before_the_re_key, principal="hana")
    org.relay.answer("PUT", r"/v1/cases/[^/]+", receipting(org), principal="hana")
    monkeypatch.setattr("client.session.time", _Later)
    form = org.write("food.toml", FOOD)
    result = org.run("hana", "intake", "submit", "--kind", "food", "--form", str(form))
    sealed = [e["epoch"] for e in sent_envelopes(org)]
    assert sealed == [], f"{LATER // DAY} days after the re-key, hana sealed to epoch(s) {sealed} (exit {result.code})"
    assert result.code == 3, result.err
    assert from_wire(EpochRecord, org.home("kim").state["council"]).epoch == 2
