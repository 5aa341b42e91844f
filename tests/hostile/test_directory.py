"""The key directory against a lying server (issue 18 item 4, issue 25 items 1 and 8): a re-chained fork, a
fork only some people see, a join the server never published, a role the server swapped."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from keys.checkpoints import Checkpoint, sign_checkpoint
from keys.invites import Grant
from keys.wire import from_wire, to_wire
from keys.witness import DAY
from tests.forms import FOOD
from tests.hostile.lies import directory_answer, entries_of, rechain, server_keys
from tests.hostile.relay import ANONYMOUS
from tests.support.harness import COUNCIL, Org, run_ceremony


def _rekey(org: Org) -> None:
    """A real re-key of the council (same members, a new council key), start to end."""
    org.ok("admin", "council", "rekey", "start", "--threshold", "2", "--members", ",".join(COUNCIL))
    run_ceremony(org, COUNCIL)
    for member in ("kim", "lee"):
        org.ok(member, "council", "rekey", "contribute")
    for member in ("kim", "lee"):
        org.ok(member, "council", "rekey", "attest")


def _submit(org: Org, who: str = "hana") -> Any:
    form = org.write("food.toml", FOOD)
    return org.run(who, "intake", "submit", "--kind", "food", "--form", str(form))


def test_a_re_chained_directory_without_the_re_key_is_refused(org: Org) -> None:
    """Issue 25 item 1. Seen against the old code: hana, pinned before a re-key, was served the directory without
    the re-key's entry (the later entries re-chained: their signatures did not cover their position) and sealed
    a real intake to the retired council key, with case-key wraps to the retired members."""
    _rekey(org)
    invite = org.ok("admin", "admin", "invite", "--role", "helper", "--name", "nari").strip()
    org.ok("nari", "join", invite, "--name", "nari")
    server = server_keys(org.root)

    def fork(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        entries = entries_of(body)
        epochs = [e for e in entries if e.kind == "council-epoch"]
        kept = [e for e in entries if e is not epochs[-1]]
        return directory_answer(rechain(kept), server, body)

    org.relay.rewrite("GET", r"/v1/directory", fork, principal=("hana", ANONYMOUS))
    result = _submit(org)
    assert result.code == 3, result.err
    assert not org.relay.requests("PUT", r"/v1/cases/[^/]+")


class _Later:
    """hana's clock, eight days on (only where her client judges how old the directory is)."""

    @staticmethod
    def time() -> float:
        return time.time() + 8 * DAY


def test_a_directory_the_council_has_not_confirmed_for_a_week_is_refused(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18 item 4: a server holding a helper on an old directory (a freeze) can show her only the
    cosignatures members made of it back then. Seen against the old code: the checkpoint, signed by the server
    alone and never dated, was all a client checked, so any old head passed. Here eight days have passed for
    hana; the server signs her a checkpoint dated today and hides every cosignature newer than eight days."""
    server = server_keys(org.root)

    def frozen(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        checkpoint = from_wire(Checkpoint, body["checkpoint"])
        today = int(_Later.time()) // DAY
        return {**body, "checkpoint": to_wire(sign_checkpoint(checkpoint.seq, checkpoint.head, today, server))}

    org.relay.rewrite("GET", r"/v1/directory", frozen, principal=("hana", ANONYMOUS))
    monkeypatch.setattr("client.session.time", _Later)
    result = _submit(org)
    assert result.code == 3, result.err
    assert "7 days" in result.err
    assert not org.relay.requests("PUT", r"/v1/cases/[^/]+")


def test_a_role_the_server_swapped_at_join_is_refused(org: Org) -> None:
    """Issue 25 item 8. Seen against the old code: the server answered a council invite with a grant saying
    "helper" and never published the join; `join` stored the role and carried on."""
    invite = org.ok("admin", "admin", "invite", "--role", "council", "--name", "nari").strip()

    def helper(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        return {"grant": to_wire(replace(from_wire(Grant, body["grant"]), role="helper"))}

    org.relay.rewrite("POST", r"/v1/invites/grant", helper)
    org.relay.answer("POST", r"/v1/join", lambda _s: (200, {"directory_seq": 7}))
    result = org.run("nari", "join", invite, "--name", "nari")
    assert result.code == 3, result.err
    assert not (org.home_path("nari") / "keystore.tsk").exists()


def test_a_device_missing_from_the_directory_stops(org: Org) -> None:
    """Issue 25 item 8. Seen against the old code: a device whose own account the server left out of the
    directory went on as if nothing were wrong."""
    invite = org.ok("admin", "admin", "invite", "--role", "helper", "--name", "nari").strip()

    def without_nari(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        entries = entries_of(body)
        kept = [e for e in entries if not (e.kind == "account-added" and e.body().get("account") == "nari")]
        return directory_answer(kept, server_keys(org.root), body)

    org.relay.rewrite("GET", r"/v1/directory", without_nari)
    result = org.run("nari", "join", invite, "--name", "nari")
    later = org.run("nari", "sync")
    assert result.code == 3 or later.code == 3, (result.err, later.err)
    assert "nari" in result.err + later.err


def _directory_reads(org: Org, start: int) -> list[str]:
    return [s.query for s in org.relay.seen[start:] if s.method == "GET" and s.path == "/v1/directory"]


def test_a_device_fetches_only_the_entries_after_its_pin(org: Org) -> None:
    """Issue 21: the directory is read from the pin on (`?after=`), and the entries before it come from the
    device's own sealed copy of what it verified; a person who joined since is known all the same."""
    org.ok("kim", "sync")
    pin = org.home("kim").state["pin"]["seq"]
    start = len(org.relay.seen)
    invite = org.ok("admin", "admin", "invite", "--role", "helper", "--name", "nari").strip()
    org.ok("nari", "join", invite, "--name", "nari")
    org.ok("kim", "sync")
    mine = [s for s in org.relay.seen[start:] if s.principal == "kim" and s.path == "/v1/directory"]
    assert [s.query for s in mine] == [f"after={pin}"]
    assert "nari" in org.home("kim").section("known")
    home = org.home("kim")
    assert home.state["directory"]["seq"] == home.state["pin"]["seq"] > pin


def test_a_server_that_ignores_after_is_replayed_from_genesis(org: Org) -> None:
    """A server may answer `?after=` with the whole chain; the device then replays it from genesis as before."""
    org.ok("lee", "sync")
    park = org.home("park")
    park.state.pop("directory", None)  # no cached entries: park's device reads the whole chain
    park.save()
    captured: list[Any] = []
    hook = org.relay.rewrite("GET", r"/v1/directory", lambda _s, body: captured.append(body) or body, principal="park")
    start = len(org.relay.seen)
    org.ok("park", "sync")
    org.relay._rewrites.remove(hook)
    assert _directory_reads(org, start) == [""]
    full = captured[-1]
    assert full["entries"][0]["seq"] == 0
    org.relay.rewrite("GET", r"/v1/directory", lambda _s, _b: full, principal="lee")
    start = len(org.relay.seen)
    assert "key directory verified" in org.ok("lee", "sync")
    assert _directory_reads(org, start)[0].startswith("after=")


def test_entries_after_the_pin_that_do_not_continue_it_are_refused(org: Org) -> None:
    """The server answers `?after=` with entries that do not start from the pinned head (a fork after the pin)."""
    org.ok("lee", "sync")
    invite = org.ok("admin", "admin", "invite", "--role", "helper", "--name", "nari").strip()
    org.ok("nari", "join", invite, "--name", "nari")
    server = server_keys(org.root)

    def fork(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        entries = entries_of(body)
        assert entries, "nari's joining is after lee's pin"
        moved = [replace(entries[0], prev=bytes(32)), *entries[1:]]
        return directory_answer(moved, server, body)

    org.relay.rewrite("GET", r"/v1/directory", fork, principal="lee")
    result = org.run("lee", "sync")
    assert result.code == 3, result.err
    assert "does not chain from the previous head" in result.err, result.err
    assert "nari" not in org.home("lee").section("known")
