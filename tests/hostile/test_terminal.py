"""What a person is shown and asked (issue 18 item 6): approvals are never given without a yes, and nothing
the server sends (or another person wrote) can drive the terminal."""

from __future__ import annotations

from tests.forms import FOOD
from tests.support.harness import Org

ESCAPES = "\x1b[2J\x1b]0;owned\x07\x9b31m"


def test_reveal_approve_without_a_terminal_needs_yes(org: Org) -> None:
    """Seen against the old code: `echo no | tessera reveal approve` approved (no prompt without a terminal)."""
    request = org.ok("kim", "reveal", "request", org.case, "--purpose", "hospital").strip()
    result = org.run("lee", "reveal", "approve", request)
    assert result.code == 2, result.err
    assert "--yes" in result.err
    assert not org.relay.requests("POST", r"/v1/reveals/[^/]+/partials")


def test_text_from_others_reaches_the_terminal_without_control_characters(org: Org) -> None:
    """Seen against the old code: a purpose written with escape sequences cleared the approver's screen and set
    the window title."""
    org.ok("kim", "reveal", "request", org.case, "--purpose", f"hospital{ESCAPES}")
    out = org.ok("lee", "reveal", "pending")
    assert "hospital" in out
    assert not any(c in out for c in "\x1b\x07\x9b")


def test_server_error_messages_are_shown_without_control_characters(org: Org) -> None:
    """Seen against the old code: the server's error text reached the terminal raw."""
    org.relay.answer("GET", r"/v1/directory", lambda _s: (400, {"error": "bad", "message": f"no{ESCAPES}"}))
    result = org.run("lee", "sync")
    assert result.code != 0
    assert "no" in result.err
    assert not any(c in result.err for c in "\x1b\x07\x9b")


def _clean(text: str) -> bool:
    return not any(c in text for c in "\x1b\x07\x9b\u202e")


def test_messages_notes_and_case_fields_reach_the_terminal_without_control_characters(org: Org) -> None:
    """Seen against the old code: a message, a decision note and a case field written with escape sequences (and
    a bidi override) reached the reader's terminal raw."""
    org.ok("kim", "messages", "send", org.case, "--text", f"call me{ESCAPES}\u202eevil")
    org.ok("kim", "decision", "propose", org.case, "--action", "approve", "--note", f"pay{ESCAPES}")
    form = org.write("food.toml", FOOD.replace('narrative = "rice for a shelter"', 'narrative = "rice\\u001b[2J\\u009b31m"'))
    case = org.ok("hana", "intake", "submit", "--kind", "food", "--form", str(form)).strip().splitlines()[-1]
    for who, argv, seen in (
        ("lee", ("messages", "list", org.case), "call me"),
        ("hana", ("inbox",), "call me"),
        ("lee", ("cases", "show", org.case), "pay"),
        ("lee", ("cases", "show", case), "rice"),
    ):
        out = org.ok(who, *argv)
        assert seen in out, (argv, out)
        assert _clean(out), argv


def test_reveal_approve_shows_who_asks_why_and_how_many_approvals_are_needed(org: Org) -> None:
    """Issue 18 item 6. Seen against the old code: the confirmation did not say how many approvals were still
    needed, and after the first approval of a 2-of-3 council it printed "approved (0 of 2 needed)"."""
    request = org.ok("kim", "reveal", "request", org.case, "--purpose", "hospital admission").strip()
    out = org.ok("lee", "reveal", "approve", request, "--yes")
    assert "kim asks" in out and "hospital admission" in out
    assert "0 of 2 needed; 1 more needed after yours" in out
    assert "approved: 1 of the 2 approvals needed so far" in out and "1 more needed." in out
