"""Unlinkable submissions (issue 24, protocol doc §10.6): a live server, with everything it sees, cannot tell which
helper sent which case.

The server's view here is everything the relay in front of it received (each request's method, path, body, the
principal that signed it and the TCP connection it came on), everything the server stored (every row of its
database) and everything it logged. `links` lists each (helper, case) pair that view ties together: a request
signed by the helper that names the case, a connection that carried both her signed requests and the case's, a
stored row that holds both.
Two helpers each send an intake with a photo; the view must tie neither to her case, and no request signed by a
helper's account may come while her intake is sent, her inbox read, her reply or later file sent (its timing would
tie them). The same check finds the link
in an intake sent with `--allow-linked` (signed by the account, as every intake was before tokens): the check
can fail.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
from pathlib import Path

import pytest

from client.samples import photo_with_gps
from keys.encoding import b64u_decode
from tests.forms import FOOD
from tests.hostile.relay import Seen
from tests.support.harness import Org

HELPERS = ("hana", "mina")


def _forms(case: str) -> list[bytes]:
    raw = b64u_decode(case, length=16)
    return [case.encode(), raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"=")]


def _names(seen: Seen, case: str) -> bool:
    blob = seen.path.encode() + seen.query.encode() + seen.body + (seen.principal or "").encode()
    return any(form in blob for form in _forms(case))


def links(org: Org, seen: list[Seen], cases: dict[str, str]) -> set[tuple[str, str, str]]:
    """(helper, case, how) for every tie between a helper and a case in the server's view."""
    found = set()
    for helper in HELPERS:
        signed = [s for s in seen if s.principal == helper]
        her_connections = {s.connection for s in signed}
        for case in cases.values():
            about = [s for s in seen if _names(s, case)]
            if any(s.principal == helper for s in about):
                found.add((helper, case, "a request signed by her names the case"))
            if her_connections & {s.connection for s in about}:
                found.add((helper, case, "one connection carried her signed requests and the case's"))
            for table, row in _rows(org.root / "server" / "tessera.db"):
                blob = b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
                if any(form in blob for form in _forms(case)) and helper.encode() in blob:
                    found.add((helper, case, f"a row of {table} holds both"))
    return found


def _rows(db: Path) -> list[tuple[str, tuple[object, ...]]]:
    with sqlite3.connect(db) as connection:
        tables = [t for (t,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [(t, row) for t in tables for row in connection.execute(f'SELECT * FROM "{t}"')]


def _submit(org: Org, who: str, *extra: str) -> tuple[str, list[Seen]]:
    photo = org.root / f"{who}.jpg"
    photo.write_bytes(photo_with_gps())
    form = org.write(f"{who}.toml", FOOD)
    start = len(org.relay.seen)
    out = org.ok(who, "intake", "submit", "--kind", "food", "--form", str(form), "--attach", str(photo), *extra)
    return out.strip().splitlines()[-1], org.relay.seen[start:]


def test_a_live_server_cannot_tell_which_helper_sent_which_case(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the server runs in this process: its log records are captured here too
    for who in HELPERS:
        assert "submission token(s) on this device" in org.ok(who, "sync")  # tokens fetched signed in, at sync
    start = len(org.relay.seen)
    cases = {}
    for who in HELPERS:
        case, during = _submit(org, who)
        cases[who] = case
        assert [s.path for s in during if s.principal in HELPERS] == [], f"{who}'s account spoke while her intake went"
        assert any(s.method == "PUT" and s.principal == f"case:{case}" for s in during), "sent as the case itself"
        assert any("/attachments" in s.path for s in during), "the photo went too, as the case"
    for who in HELPERS:  # the inbox, a reply and a file added later still work, and name nobody
        before = len(org.relay.seen)
        assert cases[who] in org.ok(who, "inbox")
        org.ok(who, "messages", "send", cases[who], "--text", "the route is open again")
        extra = org.root / f"{who}-later.jpg"
        extra.write_bytes(photo_with_gps())
        org.ok(who, "attach", cases[who], str(extra))
        assert [s.path for s in org.relay.seen[before:] if s.principal in HELPERS] == [], f"{who}'s account spoke"
    for who in HELPERS:  # sync speaks as her account only: a read of her cases right after would tie them to her
        before = len(org.relay.seen)
        org.ok(who, "sync")
        assert [s.path for s in org.relay.seen[before:] if (s.principal or "").startswith("case:")] == [], "sync read a case"
    seen = org.relay.seen[start:]
    assert links(org, seen, cases) == set()
    logged = [r.getMessage() for r in caplog.records]
    assert logged, "the server's log was captured"
    assert [m for m in logged for c in cases.values() for h in HELPERS if c in m and h in m] == []
    assert {s.connection for s in seen if s.principal == f"case:{cases['hana']}"}.isdisjoint(
        {s.connection for s in seen if s.principal == f"case:{cases['mina']}"}
    ), "two cases on one connection"

    # the same check sees the tie of an intake sent signed by the account (what every intake was before tokens)
    home = org.home("hana")
    home.section("tokens").clear()
    home.save()
    budget_spent = (429, {"error": "rate_limited", "message": "the submission tokens for this period are used"})
    org.relay.answer("POST", r"/v1/tokens", lambda _s: budget_spent, principal="hana")
    kept = org.run("hana", "intake", "submit", "--kind", "food", "--form", str(org.write("kept.toml", FOOD)))
    assert kept.code == 1 and "stays sealed in your outbox" in kept.err, kept.err  # not sent without her consent
    kept_case = kept.out.strip().splitlines()[-1]
    assert kept_case in org.ok("hana", "outbox", "list")
    linked, _during = _submit(org, "hana", "--allow-linked")
    found = links(org, org.relay.seen[start:], {"hana": linked})
    assert ("hana", linked, "a request signed by her names the case") in found
    still = org.run("hana", "outbox", "flush")
    assert still.code == 1 and "no submission token" in still.out, still.out
    assert "1 intake(s) sent signed by your account" in org.ok("hana", "outbox", "flush", "--allow-linked")

