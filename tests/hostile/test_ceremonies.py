"""Key ceremonies against a lying server: the first DKG, a membership change (redistribution), a re-key.

Issue 18 items 1 and 5, issue 25 items 2 and 3: the server must not learn a dealer's polynomial, must not
choose who receives a share, must not get members to sign a council they were not shown, and must not make
anyone erase a share on its word.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from keys.ceremony import DealerSecret
from keys.encoding import b64u_decode, b64u_encode
from tests.disk import on_disk
from tests.support.harness import CONFIRM, COUNCIL, Org, run_ceremony


def _flip(text: str) -> str:
    raw = bytearray(b64u_decode(text))
    raw[0] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def _ceremony_id(org: Org, who: str = "kim") -> str:
    return str(json.loads(org.ok(who, "council", "ceremony", "status", "--json"))["ceremony_id"])


def _polynomials(org: Org, ceremony_id: str) -> dict[str, DealerSecret]:
    return {m: DealerSecret.decode(b64u_decode(org.home(m).section("ceremony")[f"{ceremony_id}:dealer"])) for m in COUNCIL}


def test_a_forged_share_is_dropped_and_no_dealer_publishes_a_share(bare_org: Org) -> None:
    """Issue 18 item 1: a share message whose dealer signature fails is the relay's doing. Seen against the
    old code: every member complained about every dealer, each dealer answered with f_i(j) in clear, and the
    relay, holding n-1 evaluations of each polynomial, could rebuild the council secret."""
    org = bare_org
    org.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", ",".join(COUNCIL))
    for m in COUNCIL:
        org.ok(m, "council", "ceremony", "step", *CONFIRM)  # round 1: each member keeps its polynomial
    polynomials = _polynomials(org, _ceremony_id(org))

    def forge(_seen: Any, body: dict[str, Any]) -> dict[str, Any]:
        out = []
        for message in body.get("messages", []):
            if message["kind"] == "share":
                fake = json.loads(json.dumps(message))
                fake["body"]["signature"] = _flip(fake["body"]["signature"])
                out.append(fake)  # the forgery comes first
            out.append(message)
        return {**body, "messages": out}

    org.relay.rewrite("GET", r"/v1/ceremonies/[^/]+/messages", forge)
    run_ceremony(org, COUNCIL)
    for dealer in polynomials.values():
        for j in range(1, 4):
            if j != dealer.index:
                assert not org.relay.leaked(dealer.polynomial.evaluate(j).encode()), f"f_{dealer.index}({j}) left a device"
    assert not org.relay.requests("POST", r"/v1/ceremonies/[^/]+/messages") or all(
        (s.json() or {}).get("kind") not in ("complaint", "answer") for s in org.relay.seen if s.method == "POST"
    )


def test_a_finished_ceremony_leaves_no_share_box_on_the_server(bare_org: Org) -> None:
    """Issue 18 item 6: the ceremony mailbox (boxed shares) was kept for ever, so a departed member's box key
    later reopened shares. Seen against the old code: the share boxes stayed in the database files."""
    org = bare_org
    org.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", ",".join(COUNCIL))
    run_ceremony(org, COUNCIL)
    boxes = [
        _body(s.json())["ciphertext"].encode()
        for s in org.relay.requests("POST", r"/v1/ceremonies/[^/]+/messages")
        if s.json()["kind"] == "share"
    ]
    assert len(boxes) == 6
    disk = on_disk(org.root / "server")
    assert not any(box in disk for box in boxes)


def _body(posted: dict[str, Any]) -> dict[str, Any]:
    body = posted["body"]
    return dict(json.loads(body) if isinstance(body, str) else body)


def _stand_ins(org: Org) -> None:
    """The administrator registers two accounts of its own on the council."""
    for name in ("stand1", "stand2"):
        invite = org.ok("admin", "admin", "invite", "--role", "council", "--name", name).strip()
        org.ok(name, "join", invite, "--name", name)


def test_a_membership_change_to_stand_ins_needs_each_member_to_see_and_accept_it(org: Org) -> None:
    """Issue 25 item 2, issue 18 item 5: an administrator (with the server) changes the council to {kim and two
    stand-ins}. Seen against the old code: lee and park re-shared their shares to the stand-ins and signed the
    new epoch without being shown anything; the stand-ins' two new shares rebuild the council secret."""
    _stand_ins(org)
    org.ok("admin", "council", "redistribute", "--threshold", "2", "--members", "kim,stand1,stand2")
    for member in ("lee", "park"):
        result = org.run(member, "council", "ceremony", "step")
        assert result.code == 2, result.err
        assert "stand1" in result.out + result.err and "--yes" in result.err
        result = org.run(member, "council", "ceremony", "step", "--yes")
        assert result.code == 2 and "not verified" in result.err and "stand1" in result.err
    posted = [s for s in org.relay.requests("POST", r"/v1/ceremonies/[^/]+/messages") if s.principal in ("lee", "park")]
    assert posted == []


def test_a_participant_whose_keys_the_server_swapped_is_refused(org: Org) -> None:
    """Issue 25 item 2: the server's word never names a share's recipient. The relay shows lee a membership
    change whose participant `park` carries the keys of an account the administrator controls."""
    _stand_ins(org)
    stand_in = org.home("stand1").keys.public()  # public keys: the server knows them
    org.ok("admin", "council", "redistribute", "--threshold", "2", "--members", "kim,lee,park")

    def swap(_seen: Any, body: dict[str, Any]) -> dict[str, Any]:
        for p in body["params"]["participants"]:
            if p["account"] == "park":
                p["sign_key"], p["box_key"] = b64u_encode(stand_in.sign_key), b64u_encode(stand_in.box_key)
        return body

    org.relay.rewrite("GET", r"/v1/ceremonies/[^/]+/messages", swap, principal="lee")
    result = org.run("lee", "council", "ceremony", "step", *CONFIRM)
    assert result.code == 3, result.err
    assert "park" in result.err
    assert not [s for s in org.relay.requests("POST", r"/v1/ceremonies/[^/]+/messages") if s.principal == "lee"]


def test_a_share_is_not_erased_when_the_server_says_the_re_key_is_over(org: Org) -> None:
    """Issue 25 item 3. Seen against the old code: told by the re-key status that epoch 1 was finished while the
    verified directory still shows epoch 1 as current, members erased their only share."""
    org.relay.rewrite(
        "GET",
        r"/v1/rekey",
        lambda _s, _b: {"state": "done", "old_epoch": 1, "new_epoch": 2, "cases": 0, "switched": 0, "remaining": 0},
    )
    for member in ("kim", "lee"):
        org.run(member, "council", "rekey", "status")
        assert "share:1" in org.home(member).section("ceremony")


def test_a_share_is_not_erased_when_the_server_says_a_membership_change_is_done(org: Org) -> None:
    """Issue 25 item 3. Seen against the old code: the redistribution step erased `share:{epoch-1}` when the
    mailbox said the change was over, before any check."""
    org.ok("admin", "council", "redistribute", "--threshold", "2", "--members", ",".join(COUNCIL))

    def done(_seen: Any, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "state": "done", "messages": []}

    org.relay.rewrite("GET", r"/v1/ceremonies/[^/]+/messages", done)
    org.relay.rewrite("GET", r"/v1/ceremonies/current", lambda _s, b: {**b, "state": "done"})
    for member in COUNCIL:
        org.run(member, "council", "ceremony", "step", *CONFIRM)
        assert "share:1" in org.home(member).section("ceremony")


def test_a_ceremony_the_server_calls_done_is_done_only_when_the_directory_says_so(bare_org: Org) -> None:
    """A 409 "this ceremony is done" on a member's message ends her step as done only when the verified directory
    holds the ceremony's record with her share; from the server's word alone the refusal stands.

    The race the everyday-story test met in CI: kim's step reads the directory just before park's signature
    completes the ceremony; the finished ceremony's share boxes are gone, so kim sends her kept shares again and
    is refused as over. Against the old code that refusal ended her `council ceremony run` with exit 1."""
    org = bare_org
    org.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", ",".join(COUNCIL))
    over = (409, {"error": "conflict", "message": "this ceremony is done"})
    lie = org.relay.answer("POST", r"/v1/ceremonies/[^/]+/messages", lambda _s: over, principal="kim")
    told = org.run("kim", "council", "ceremony", "step", *CONFIRM)
    assert lie.hits and told.code != 0 and "done" not in told.out, told.out
    org.relay.clear()
    seen_by_kim: list[dict[str, Any]] = []
    org.relay.rewrite("GET", r"/v1/directory", lambda _s, body: seen_by_kim.append(body) or body, principal="kim")
    finished = False
    for _ in range(10):  # rounds in the order kim, lee, park: park's signature is the last
        for m in COUNCIL:
            finished = "done" in org.ok(m, "council", "ceremony", "step", *CONFIRM)
        if finished:
            break
    assert finished, "the ceremony ended with park's step"
    org.relay.clear()
    stale = [seen_by_kim[-1]]  # what kim's device verified last: the directory just before park's signature

    def before_park(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        return stale.pop() if stale else body

    org.relay.rewrite("GET", r"/v1/directory", before_park, principal="kim")
    before = len(org.relay.seen)
    raced = org.run("kim", "council", "ceremony", "step", *CONFIRM)
    refused = [s for s in org.relay.seen[before:] if s.method == "POST" and s.principal == "kim"]
    assert refused, "kim's step sent her kept shares again into the finished ceremony (the race)"
    assert raced.code == 0 and "done" in raced.out, raced.err
