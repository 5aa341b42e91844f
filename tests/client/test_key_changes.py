"""Issue 26 item 1: a key rotation the verified directory shows as a chain from the keys this device knew is
continuity (noted, not a hard stop); any other change stays a hard stop; `verify NAME` shows the number first.

On the code before this change, every one of these commands exited 3 after the administrator's rotation."""

from __future__ import annotations

import json

from keys.accounts import AccountKeys
from keys.encoding import b64u_encode
from tests.support.harness import MEDICAL, Org


def test_a_rotation_signed_by_the_old_key_locks_nobody_out(org: Org) -> None:
    before = json.loads(org.ok("hana", "verify", "admin", "--json"))
    assert "new keys in place" in org.ok("admin", "rotate-keys")
    synced = org.run("hana", "sync")
    assert synced.code == 0, synced.err
    assert "admin replaced their keys" in synced.err and "New safety number" in synced.err
    assert org.run("hana", "sync").err.count("replaced their keys") == 0  # noted once
    assert org.ok("hana", "inbox", "--json")
    form = org.write("form.toml", MEDICAL)
    assert org.ok("hana", "intake", "submit", "--kind", "medical", "--form", str(form)).strip()
    assert org.run("kim", "reveal", "pending").code == 0
    shown = json.loads(org.ok("hana", "verify", "admin", "--json"))
    assert shown["safety_number"] != before["safety_number"]
    assert shown["rotated"] is True and shown["verified"] is False and shown["changed_without_rotation"] is False
    text = org.ok("kim", "verify", "admin")
    assert text.startswith(f"admin: {shown['safety_number']}") and "rotation signed with the keys you knew" in text


def test_a_rotated_council_member_is_shown_as_not_verified_in_a_ceremony_plan(org: Org) -> None:
    org.ok("kim", "verify", "lee", "--accept")
    org.ok("kim", "verify", "park", "--accept")
    org.ok("lee", "rotate-keys")
    org.ok("admin", "council", "redistribute", "--threshold", "2", "--members", "kim,lee,park")
    refused = org.run("kim", "council", "ceremony", "step", "--yes")
    assert refused.code == 2 and "not verified in person: lee" in refused.err
    assert "lee" in refused.out and "new keys since a rotation" in refused.out
    org.ok("kim", "verify", "lee", "--accept")  # compared the new number in person
    assert "NOT verified" not in org.ok("kim", "council", "ceremony", "step", "--yes")


def test_a_change_the_rotation_chain_does_not_explain_stays_a_hard_stop(org: Org) -> None:
    home = org.home("hana")
    stranger = AccountKeys.generate().public()
    home.section("known")["kim"].update(sign_key=b64u_encode(stranger.sign_key), box_key=b64u_encode(stranger.box_key))
    home.save()
    refused = org.run("hana", "sync")
    assert refused.code == 3 and "does not show a rotation" in refused.err and "tessera verify kim" in refused.err
    shown = org.run("hana", "verify", "kim")
    number = json.loads(org.ok("lee", "verify", "kim", "--json"))["safety_number"]
    assert shown.code == 3 and shown.out.startswith(f"kim: {number}")  # the number first, then the refusal
    assert "Compare the number above" in shown.err
    org.ok("hana", "verify", "kim", "--accept")
    assert org.run("hana", "sync").code == 0
