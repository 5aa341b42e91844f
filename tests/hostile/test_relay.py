"""The harness itself: an honest relay changes nothing, and records what clients sent."""

from __future__ import annotations

import json

from tests.support.harness import Org


def test_an_honest_relay_forwards_every_request_unchanged(org: Org) -> None:
    out = org.ok("kim", "cases", "show", org.case)
    assert "broken leg" in out and "signature checked" in out
    gets = org.relay.requests("GET", f"/v1/cases/{org.case}")
    assert gets and gets[-1].principal == "kim"
    assert not org.relay.leaked(b"broken leg")  # what kim read, kim did not send


def test_a_rewrite_and_an_answer_reach_the_client(org: Org) -> None:
    org.relay.answer("GET", r"/v1/case-pages", lambda _s: (200, {"cases": [], "next_cursor": None}))
    assert org.case not in org.ok("kim", "cases", "list")
    org.relay.clear()
    org.relay.rewrite("GET", r"/v1/case-pages", lambda _s, body: {**body, "cases": body["cases"][:1]})
    assert len(json.loads(org.ok("kim", "cases", "list", "--json"))["cases"]) == 1
