"""Review of main after issues 18 and 25: a server that cuts one connection makes a helper seal a new intake to a
retired council, and the device then sends it although it has verified, in the same command, the directory that
retires that council. `intake submit` falls back to the council cached on the device (of any age) when the
directory fetch does not answer, and `outbox flush` sends whatever the outbox holds without comparing its
council with the directory it has just verified; the outbox copy goes on the server's receipt. This bypasses
every directory check of issues 18 and 25 (witness freshness included): it is issue 25 item 1 again, with one
cut connection instead of a re-chained directory. Fixed in client/outbox.py (an intake leaves the device only when
sealed to the current council of the directory just verified; rewrapped on the device after a membership change
that kept the key; kept, never sent, after a re-key).
"""

from __future__ import annotations

from keys.council import EpochRecord
from keys.encoding import b64u_decode
from keys.envelope import IntakeEnvelope, open_case_file, unwrap_case_key
from keys.wire import from_wire
from tests.hostile.relay import ANONYMOUS, CASES
from tests.hostile.review import cutting_org, receipting, rekey_key_ceremony, sent_envelopes
from tests.support.harness import FOOD, Org

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
    Fixed (client/outbox.py, client/commands/intake.py): `intake submit` that sealed to the cached council because
    the directory did not answer seals again from the form (still in memory) once the directory verifies and names
    another council; and every intake leaves the outbox with its case key wrapped only to members of the current
    verified council (the next test). The review proposed refusing any envelope of an earlier epoch; that would
    drop the intakes sealed offline before a re-key, which the re-key is designed to switch (tests/e2e/test_rekey.py),
    so what such an envelope may not carry (a wrap for a removed member) is what is checked."""
    org = cutting_org
    invite = org.ok("admin", "admin", "invite", "--role", "council", "--name", "nari").strip()
    org.ok("nari", "join", invite, "--name", "nari")
    rekey_key_ceremony(org, ("kim", "lee", "nari"))
    retired = from_wire(EpochRecord, org.home("hana").state["council"])
    assert retired.epoch == 1 and "park" in [m.account for m in retired.members]  # hana last synced before the re-key
    org.relay.cut("GET", r"/v1/directory", principal=("hana", ANONYMOUS), times=2)  # type: ignore[attr-defined]
    org.relay.answer("PUT", r"/v1/cases/[^/]+", receipting(org), principal=("hana", CASES))
    form = org.write("food.toml", FOOD)
    result = org.run("hana", "intake", "submit", "--kind", "food", "--form", str(form))
    current = from_wire(EpochRecord, org.home("hana").state["council"])
    assert current.epoch == 2, "hana's client verified the re-keyed directory during the same command"
    leaked = [_narrative_for(org, "park", wire) for wire in sent_envelopes(org)]
    assert leaked == [None] * len(leaked), f"park, removed for cause, reads the new intake: {leaked} (exit {result.code})"
    for wire in sent_envelopes(org):
        assert (wire["epoch"], b64u_decode(str(wire["kid"]))) == (current.epoch, current.kid)
    # sealed again from the form to the council verified in the same command, once the directory answered
    assert result.code == 0 and "sealed again to council epoch 2" in result.out, result.err
    assert org.home("hana").section("intake_tokens") == {}, "the dropped first sealing's token binding went with it"
    (wire,) = sent_envelopes(org)
    assert _narrative_for(org, "nari", wire) == _narrative_for(org, "kim", wire) is not None
    assert not list(org.home("hana").outbox())


def test_an_intake_sealed_before_a_rekey_reaches_no_member_removed_for_cause(cutting_org: Org) -> None:
    """hana seals an intake offline while park is still on the council (epoch 1); the council then re-keys to
    remove park for cause (kim, lee, nari; epoch 2), without revoking his account. An intake sealed before the re-key
    is still accepted while the cases are being switched (protocol doc §6; tests/e2e/test_rekey.py), but on main it
    went out as sealed, park's case-key wrap included (the honest server drops it, a hostile one serves it to him).
    Now the device wraps the case key again, to the members of epoch 1 who are on the current council only."""
    org = cutting_org
    form = org.write("food.toml", FOOD)
    org.ok("hana", "intake", "submit", "--kind", "food", "--form", str(form), "--offline")
    invite = org.ok("admin", "admin", "invite", "--role", "council", "--name", "nari").strip()
    org.ok("nari", "join", invite, "--name", "nari")
    rekey_key_ceremony(org, ("kim", "lee", "nari"))
    assert "sent 1 intake(s)" in org.ok("hana", "outbox", "flush")  # the real server, still switching
    (wire,) = sent_envelopes(org)
    assert wire["epoch"] == 1  # its identity header is switched with the rest of epoch 1's cases
    assert _narrative_for(org, "park", wire) is None
    assert _narrative_for(org, "kim", wire) == _narrative_for(org, "lee", wire) is not None


def test_an_intake_sealed_offline_before_a_revocation_is_not_wrapped_to_the_revoked_member(cutting_org: Org) -> None:
    """hana seals an intake offline (wrapped to the whole council she verified last, park included); park's device
    is then lost and revoked. Before the fix her `outbox flush` sent the envelope as sealed, park's case-key wrap
    included (the real server drops it, a hostile one keeps it for park). Now the device wraps the case key again
    to the active members of the directory it has just verified before sending."""
    org = cutting_org
    form = org.write("food.toml", FOOD)
    case = org.ok("hana", "intake", "submit", "--kind", "food", "--form", str(form), "--offline").strip().splitlines()[-1]
    org.ok("admin", "admin", "revoke", "park")
    assert "sent 1 intake(s)" in org.ok("hana", "outbox", "flush")
    (wire,) = sent_envelopes(org)
    assert wire["case_id"] == case
    assert _narrative_for(org, "park", wire) is None
    assert all(_narrative_for(org, who, wire) == _narrative_for(org, "kim", wire) is not None for who in ("lee",))
