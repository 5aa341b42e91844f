"""Issue 26 item 2: a typo in `join --name` spends neither the invite nor the name, and `admin invite` for a
name in use says what to do instead."""

from __future__ import annotations

from tests.hostile.conftest import Org


def test_a_typo_in_join_name_does_not_spend_the_invite(bare_org: Org) -> None:
    invite = bare_org.ok("admin", "admin", "invite", "--role", "helper", "--name", "ryu").strip()
    typo = bare_org.run("ryu", "join", invite, "--name", "ryo")
    assert typo.code == 2 and "this invite is for the account 'ryu'" in typo.err and "--name ryu" in typo.err
    assert not (bare_org.home_path("ryu") / "keystore.tsk").exists()
    assert "Joined as ryu (helper)" in bare_org.ok("ryu", "join", invite, "--name", "ryu")


def test_inviting_a_name_in_use_says_what_to_do(bare_org: Org) -> None:
    invite = bare_org.ok("admin", "admin", "invite", "--role", "helper", "--name", "ryu").strip()
    pending = bare_org.run("admin", "admin", "invite", "--role", "helper", "--name", "ryu")
    assert pending.code == 1 and "waiting to be used" in pending.err and "admin invites" in pending.err
    bare_org.ok("ryu", "join", invite, "--name", "ryu")
    bare_org.ok("admin", "admin", "revoke", "ryu")
    again = bare_org.run("admin", "admin", "invite", "--role", "helper", "--name", "ryu")
    assert again.code == 2 and "a revoked account" in again.err and "another name" in again.err
    assert bare_org.ok("admin", "admin", "invite", "--role", "helper", "--name", "ryu2").startswith("tessera-invite:")
