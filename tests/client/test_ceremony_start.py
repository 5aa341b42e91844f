"""Issue 26 item 3: `council ceremony start` on a working council silently opened a full re-key (reveals then
waited for `rekey contribute` and `rekey attest`). It now refuses and names the two commands that fit."""

from __future__ import annotations

import json

from tests.support.harness import Org


def test_ceremony_start_on_a_working_council_refuses_and_changes_nothing(org: Org) -> None:
    before = json.loads(org.ok("kim", "council", "ceremony", "status", "--json"))
    refused = org.run("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
    assert refused.code == 2
    assert "council redistribute" in refused.err and "council rekey start" in refused.err
    assert json.loads(org.ok("kim", "council", "ceremony", "status", "--json"))["ceremony_id"] == before["ceremony_id"]
    assert json.loads(org.ok("kim", "council", "rekey", "status", "--json"))["state"] == "none"


def test_ceremony_start_opens_the_first_ceremony(bare_org: Org) -> None:
    opened = bare_org.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
    assert "ceremony opened for kim, lee, park" in opened
