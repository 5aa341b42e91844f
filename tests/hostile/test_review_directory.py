"""FAILS ON MAIN: attack works.

Review of main after issues 18 and 25: a directory entry's `day` is chosen by the server, covered by no
signature (keys/directory.py `entry_message` signs kind, seq, prev and payload) and checked by no client, yet the
witness rule takes the current council's age from it (keys/witness.py: no cosignature is needed while the
council entry is at most seven days old). A server that dates the council's entry in the future switches the
seven-day freeze bound off for that council's whole life.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import server.services.epochs as epochs
from keys.checkpoints import sign_checkpoint
from keys.council import EpochRecord
from keys.wire import from_wire, to_wire
from keys.witness import DAY
from tests.hostile.conftest import FOOD, Org, run_ceremony
from tests.hostile.lies import entries_of, server_keys
from tests.hostile.review import FAILS_ON_MAIN, receipting, rekey_key_ceremony, sent_envelopes

pytestmark = FAILS_ON_MAIN

LATER = 40 * DAY  # how long after the re-key hana submits


class _Later:
    """hana's clock, forty days on (only where her client judges how old the directory is)."""

    @staticmethod
    def time() -> float:
        return time.time() + LATER


def test_review_a_council_entry_dated_in_the_future_does_not_switch_off_the_freeze_bound(
    bare_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server publishes the council's first epoch with its entry dated ten years ahead (the members sign the
    entry's position and payload, not its day; nobody checks it). Later the council re-keys (epoch 2). Forty days
    on, the server still serves hana the directory as it stood before the re-key, with a checkpoint it signs for
    her today and no cosignature at all: her client counts the epoch-1 council as younger than seven days, needs
    no witness, and seals her intake to the retired key. Seen on main: the intake leaves her device sealed to
    epoch 1, forty days after the re-key (the same freeze with a truthfully dated entry is refused:
    test_directory.py::test_a_directory_the_council_has_not_confirmed_for_a_week_is_refused).
    Fix (keys/directory.py, a protocol rule): the day is part of what every signer of an entry signs
    (`entry_message`), each signer checks it is its own today (±1), `apply_entry` refuses a day earlier than the
    previous entry's, and `check_witnesses` (or `verify_answer`) refuses a chain whose last entry is dated after the
    reader's today + 1."""
    org = bare_org
    real_append = epochs.append_entry

    async def future_dated(session: Any, **kwargs: Any) -> Any:
        if kwargs.get("kind") == "council-epoch" and kwargs["payload"]["epoch"] == 1:
            kwargs["day"] += 3650
        return await real_append(session, **kwargs)

    monkeypatch.setattr(epochs, "append_entry", future_dated)
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
