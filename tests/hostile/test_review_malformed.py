"""Malformed answers are the server's lie (found by review; fixed by contract/parse.py, run in client/api.py).

Review of main after issues 18 and 25: several commands index the server's JSON answer directly
(`page["cases"]`, `answer["requests"]`, `status["state"]`, `row["complete"]`, `answer["checkpoint"]`), so an answer
with a field missing or of another type ends the CLI with a Python traceback (KeyError, TypeError) instead of the
project's "the server lied" (exit 3). Nothing secret leaves; but a person shown a traceback cannot tell a broken
install from a lying server, which is the one thing these refusals must say.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.harness import Org, Run


def _attempt(org: Org, who: str, *argv: str) -> Run:
    try:
        return org.run(who, *argv)
    except Exception as exc:
        return Run(-1, "", f"Traceback (uncaught {exc.__class__.__name__}: {exc})")


def _strip(key: str) -> Any:
    def rewrite(_s: Any, body: Any) -> Any:
        out = json.loads(json.dumps(body))
        for row in out.get("attachments", []) if isinstance(out, dict) else []:
            row.pop(key, None)
        return out

    return rewrite


def test_review_malformed_answers_are_refused_as_lies_not_crashes(org: Org) -> None:
    """Each command below gets one malformed answer from the server. Seen on main: five end in an uncaught
    KeyError or TypeError (a traceback); `audit verify` exits 1 with "Checkpoint: expected a JSON object" (any
    EncodingError from parsing what the server sent is exit 1, never "the server lied").
    Fix (client/api.py, the one place answers come in, or client/main.py as a last resort): parse each answer
    into a typed model at the edge (the house style's msgspec Structs) and turn a mismatch into
    HostileServerError ("the server's answer to GET /v1/... is malformed"), exit 3."""
    lies: list[tuple[str, tuple[str, ...], str, str, Any]] = [
        ("kim", ("cases", "list"), "GET", r"/v1/case-pages", lambda _s, _b: {"next_cursor": None}),
        ("kim", ("report",), "GET", r"/v1/cases", lambda _s, _b: {"next_cursor": None}),
        ("kim", ("reveal", "pending"), "GET", r"/v1/reveals", lambda _s, _b: {"requests": None}),
        ("kim", ("council", "rekey", "status"), "GET", r"/v1/rekey", lambda _s, _b: {"old_epoch": 1}),
        ("kim", ("council", "ceremony", "status"), "GET", r"/v1/ceremonies/current", lambda _s, _b: {"state": "done"}),
        ("kim", ("cases", "attachments", org.case), "GET", rf"/v1/cases/{org.case}/attachments", _strip("complete")),
        ("kim", ("audit", "verify"), "GET", r"/v1/audit", lambda _s, b: {**b, "checkpoint": None, "entries": None}),
    ]
    crashed = []
    for who, argv, method, pattern, rewrite in lies:
        hook = org.relay.rewrite(method, pattern, rewrite)
        result = _attempt(org, who, *argv)
        org.relay._rewrites.remove(hook)
        if result.code != 3:
            crashed.append(f"{' '.join(argv)}: exit {result.code}: {result.err.strip()[:160]}")
    assert crashed == [], "malformed answers not refused as the server's lie:\n" + "\n".join(crashed)


def test_review_another_request_served_at_reveal_open_is_named_as_the_servers_lie(org: Org) -> None:
    """kim has two approved requests on the same case; at `reveal open` of the second, the server serves the first
    request with its partials. Seen on main: exit 1, "identity key does not open: the combined partial decryptions
    are wrong", as if the council's partials were bad; `cmd_open` never compares the served request's id with the
    one asked for (nothing leaks and the blinding is kept). Fix (client/commands/reveal.py `cmd_open`): refuse a
    request whose id is not the one asked for with ProofError (exit 3), before combining."""
    first = org.ok("kim", "reveal", "request", org.case, "--purpose", "hospital admission").strip()
    second = org.ok("kim", "reveal", "request", org.case, "--purpose", "hospital discharge").strip()
    for member in ("lee", "park"):
        for request in (first, second):
            org.ok(member, "reveal", "approve", request, "--yes")
    served: list[Any] = []

    def keep(_s: Any, body: Any) -> Any:
        served.append(json.loads(json.dumps(body)))
        return body

    org.relay.rewrite("GET", rf"/v1/reveals/{first}", keep)
    org.ok("kim", "reveal", "open", first)
    org.relay.answer("GET", rf"/v1/reveals/{second}", lambda _s: (200, served[-1]))
    result = org.run("kim", "reveal", "open", second)
    assert second in org.home("kim").section("reveals")
    assert result.code == 3 and "server" in result.err, result.err
