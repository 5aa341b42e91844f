"""Issue 26 item 7, the smaller traps, each as it was seen (every test here fails against the old code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import client.attaching
from client.main import main
from tests.support.harness import Org


def test_reveal_open_without_attachments_to_keeps_the_request_for_the_photos(org: Org, tmp_path: Path) -> None:
    """Old: the request was spent, and `--attachments-to` then said it was not a request made on this device."""
    request = org.ok("kim", "reveal", "request", org.case, "--purpose", "hospital").strip()
    for member in ("lee", "park"):
        org.ok(member, "reveal", "approve", request, "--yes")
    first = org.run("kim", "reveal", "open", request)
    assert first.code == 0 and "박서준" in first.out and "1 identity attachment(s)" in first.err
    opened = json.loads(org.ok("kim", "reveal", "open", request, "--attachments-to", str(tmp_path / "files"), "--json"))
    assert len(opened["attachments"]) == 1 and Path(opened["attachments"][0]["file"]).exists()
    spent = org.run("kim", "reveal", "open", request)
    assert spent.code == 2 and "not a request you made" in spent.err  # now it is spent


def test_a_case_without_identity_attachments_spends_the_request_at_once(org: Org) -> None:
    request = org.ok("kim", "reveal", "request", org.case2, "--purpose", "delivery").strip()
    for member in ("lee", "park"):
        org.ok(member, "reveal", "approve", request, "--yes")
    assert "김영희" in org.ok("kim", "reveal", "open", request)
    assert request not in org.home("kim").section("reveals")


def test_after_a_members_rotation_cases_say_what_brings_them_back(org: Org) -> None:
    """Old: "no key wrap for you on this case (you joined the council after it was sealed)"."""
    org.ok("lee", "rotate-keys")
    shown = org.run("lee", "cases", "show", org.case)
    assert shown.code == 1 and "you replaced your keys" in shown.err and "council redistribute" in shown.err
    assert "joined the council after" not in shown.err


def test_administrators_list_accounts_and_pending_invites(org: Org) -> None:
    accounts = {a["account"]: a for a in json.loads(org.ok("admin", "admin", "accounts", "--json"))["accounts"]}
    assert set(accounts) == {"admin", "kim", "lee", "park", "hana", "mina"}
    assert accounts["kim"]["on_council"] is True and accounts["hana"]["role"] == "helper"
    org.ok("admin", "admin", "revoke", "mina")
    org.ok("admin", "admin", "invite", "--role", "helper", "--name", "yun")
    after = {a["account"]: a["state"] for a in json.loads(org.ok("admin", "admin", "accounts", "--json"))["accounts"]}
    assert after["mina"] == "revoked" and after["kim"] == "active"
    (invite,) = json.loads(org.ok("admin", "admin", "invites", "--json"))["invites"]
    assert (invite["account"], invite["role"], invite["issuer"], invite["signed"]) == ("yun", "helper", "admin", True)
    assert org.run("kim", "admin", "invites").code == 2


def test_a_grant_the_server_changed_is_shown_as_not_signed(org: Org) -> None:
    org.ok("admin", "admin", "invite", "--role", "helper", "--name", "yun")

    def promote(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        for item in body["invites"]:
            item["grant"]["role"] = "council"
        return body

    org.relay.rewrite("GET", r"/v1/invites", promote)
    (invite,) = json.loads(org.ok("admin", "admin", "invites", "--json"))["invites"]
    assert invite["signed"] is False and "not signed by admin" in invite["problem"]


def test_the_council_and_administrators_read_the_audit_log(org: Org) -> None:
    """Old: the log could only be verified, never read."""
    joined = json.loads(org.ok("admin", "audit", "list", "--action", "account.joined", "--last", "0", "--json"))
    assert [e["object"] for e in joined["entries"]] == ["admin", "kim", "lee", "park", "hana", "mina"]
    text = org.ok("kim", "audit", "list", "--object", org.case)
    assert "case.submitted" in text and "helper" in text and "verified" in text
    assert org.run("hana", "audit", "list").code == 2


def test_version() -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0


def test_version_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("tessera 0.")


def test_a_stopped_upload_says_how_to_resume(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old: ^C printed "interrupted." and nothing else."""

    async def stopped(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(client.attaching, "upload", stopped)
    receipt = org.write("receipt.txt", "pharmacy receipt, 40 USD")
    result = org.run("hana", "attach", org.case2, str(receipt))
    assert result.code == 130 and "tessera outbox flush" in result.err and "resumes" in result.err
    monkeypatch.undo()
    assert "1 attachment(s)" in org.ok("hana", "outbox", "flush")
