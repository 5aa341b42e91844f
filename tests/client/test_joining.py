"""Issue 26 item 2: a typo in `join --name` spends neither the invite nor the name, and `admin invite` for a
name in use says what to do instead."""

from __future__ import annotations

import pytest

from client.main import main
from tests.support.harness import Org


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


def _join_with_env(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], who: str, invite: str, passphrase: str
) -> tuple[int, str]:
    monkeypatch.setenv("TESSERA_PASSPHRASE", passphrase)
    capsys.readouterr()
    code = main(["--home", str(org.home_path(who)), "--server", org.stack.url, "join", invite, "--name", who])
    return code, capsys.readouterr().err


def test_the_passphrase_rule_applies_to_every_source_and_council_members_need_six_words(
    bare_org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against the old code: `x` from TESSERA_PASSPHRASE or --passphrase-file was accepted, and four words were
    enough for a council member."""
    helper = bare_org.ok("admin", "admin", "invite", "--role", "helper", "--name", "yun").strip()
    code, err = _join_with_env(bare_org, monkeypatch, capsys, "yun", helper, "x")
    assert code == 2 and "at least four words" in err and "the invite still works" in err
    short = bare_org.write("short.txt", "x\n")
    refused = bare_org.run("yun", "--passphrase-file", str(short), "join", helper, "--name", "yun")
    assert refused.code == 2 and "at least four words" in refused.err
    assert not (bare_org.home_path("yun") / "keystore.tsk").exists()
    council = bare_org.ok("admin", "admin", "invite", "--role", "council", "--name", "seo").strip()
    code, err = _join_with_env(bare_org, monkeypatch, capsys, "seo", council, "four words for council")
    assert code == 2 and "at least six words" in err
    six = bare_org.write("six.txt", "six words are what council needs\n")
    assert "Joined as seo (council)" in bare_org.ok("seo", "--passphrase-file", str(six), "join", council, "--name", "seo")
    code, err = _join_with_env(bare_org, monkeypatch, capsys, "yun", helper, "four words for helpers")
    assert code == 0, err


def test_an_invite_handed_out_before_the_administrators_rotation_still_works(bare_org: Org) -> None:
    """Against the old code: the joining device checked the grant against the administrator's new key and called
    the server a liar (exit 3): every invite handed out before a rotation was lost."""
    invite = bare_org.ok("admin", "admin", "invite", "--role", "helper", "--name", "ryu").strip()
    rotated = bare_org.ok("admin", "rotate-keys")
    assert "signed your 1 pending invite(s) again" in rotated
    assert "Joined as ryu (helper)" in bare_org.ok("ryu", "join", invite, "--name", "ryu")
    assert bare_org.ok("admin", "admin", "invites").count("ryu") == 0


def test_the_administrator_signs_again_only_grants_it_signed(bare_org: Org) -> None:
    """A hostile server lists a grant of its own making among the pending invites: the rotating administrator's
    client does not put the new key on it."""
    bare_org.ok("admin", "admin", "invite", "--role", "helper", "--name", "ryu")

    def promote(_s: object, body: dict[str, list[dict[str, dict[str, str]]]]) -> object:
        for item in body["invites"]:
            item["grant"]["role"] = "admin"
        return body

    bare_org.relay.rewrite("GET", r"/v1/invites", promote)
    assert "pending invite" not in bare_org.ok("admin", "rotate-keys")
    assert not bare_org.relay.requests("PUT", r"/v1/invites/[^/]+/grant")
