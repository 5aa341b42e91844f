"""FAILS ON MAIN: attack works.

Review of main after issues 18 and 25: a server that cuts one connection makes a helper seal a new intake to a
retired council, and the device then sends it although it has verified, in the same command, the directory that
retires that council. `intake submit` falls back to the council cached on the device (of any age) when the
directory fetch does not answer, and `outbox flush` sends whatever the outbox holds without comparing its
council with the directory it has just verified; the outbox copy goes on the server's receipt. This bypasses
every directory check of issues 18 and 25 (witness freshness included): it is issue 25 item 1 again, with one
cut connection instead of a re-chained directory.
"""

from __future__ import annotations

from keys.council import EpochRecord
from keys.encoding import b64u_decode
from keys.envelope import IntakeEnvelope, open_case_file, unwrap_case_key
from keys.wire import from_wire
from tests.hostile.conftest import FOOD, Org
from tests.hostile.review import FAILS_ON_MAIN, cutting_org, receipting, rekey_key_ceremony, sent_envelopes

pytestmark = FAILS_ON_MAIN

__all__ = ["cutting_org"]


def _narrative_for(org: Org, who: str, wire: dict[str, object]) -> str | None:
    """What `who`'s keys read of an envelope's case file (None: no wrap for them)."""
    envelope = from_wire(IntakeEnvelope, wire)
    keys = org.home(who).keys
    wrap = next((w for w in envelope.wraps if w.recipient == keys.public().box_key), None)
    if wrap is None:
        return None
    case_key = unwrap_case_key(keys, envelope.case_id, wrap)
    return open_case_file(envelope, case_key).body.decode()


def test_review_a_cut_directory_fetch_does_not_seal_to_a_retired_council(cutting_org: Org) -> None:
    """The council re-keys to remove park for cause (new council kim, lee, nari; epoch 2); hana has not synced
    since. When she submits, the server cuts her first key-directory fetch (twice: aiohttp retries once): her
    client prints "the server does not answer: sealing with the council key verified last time" and seals to
    epoch 1. In the same command it then fetches and verifies the directory (epoch 2, park removed), sends the
    epoch-1 envelope anyway, and deletes the outbox copy on the server's receipt; exit 0. The envelope carries a
    case-key wrap for park, so park (colluding with the server) reads the new case file, and its identity header
    is sealed to the retired key, which the hostile server never switches. Seen on main: park's keys open the
    narrative of the intake hana sent after park was removed.
    Fix (client/commands/intake.py `flush`, the one place an envelope leaves the device): refuse to send an
    envelope whose kid and epoch are not those of the verified directory's current council (keep it, exit 3, say
    the council changed since it was sealed); seal while online only after a verified directory (no silent
    fall-back to the cached council when the fetch fails, or only with an explicit --offline); and keep the form
    sealed in the outbox until the receipt, so a stale envelope can be sealed again to the current council."""
    org = cutting_org
    invite = org.ok("admin", "admin", "invite", "--role", "council", "--name", "nari").strip()
    org.ok("nari", "join", invite, "--name", "nari")
    rekey_key_ceremony(org, ("kim", "lee", "nari"))
    retired = from_wire(EpochRecord, org.home("hana").state["council"])
    assert retired.epoch == 1 and "park" in [m.account for m in retired.members]  # hana last synced before the re-key
    org.relay.cut("GET", r"/v1/directory", principal="hana", times=2)  # type: ignore[attr-defined]
    org.relay.answer("PUT", r"/v1/cases/[^/]+", receipting(org), principal="hana")
    form = org.write("food.toml", FOOD)
    result = org.run("hana", "intake", "submit", "--kind", "food", "--form", str(form))
    current = from_wire(EpochRecord, org.home("hana").state["council"])
    assert current.epoch == 2, "hana's client verified the re-keyed directory during the same command"
    leaked = [_narrative_for(org, "park", wire) for wire in sent_envelopes(org)]
    assert leaked == [None] * len(leaked), f"park, removed for cause, reads the new intake: {leaked} (exit {result.code})"
    for wire in sent_envelopes(org):
        assert (wire["epoch"], b64u_decode(str(wire["kid"]))) == (current.epoch, current.kid)
    assert result.code == 3 or not sent_envelopes(org), result.err
