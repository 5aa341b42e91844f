"""Issue 26, done when: the everyday story runs start to end for two helpers and a council of three, with one
rotation of every kind in the middle (a council member's keys, the administrator's keys, the server's key, a
membership change, a re-key), and nobody is locked out or loses an invite, a case or an outbox item.

Real processes throughout: the server (stopped for its key rotation and started again on the same port), and
each member's `tessera council ceremony run` as its own process, running at the same time as the others'."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from client.samples import photo_with_gps
from tests import fastcli
from tests.support.processes import PASSPHRASE, Cli, environment, free_port, init_server, running_server, server_cli

from .test_cli import MEDICAL

FOOD = """kind = "food"
schema = 1
[identity]
full_name = "김영희"
exact_location = "shelter D"
[case]
region = "Liaoning"
urgency = "medium"
narrative = "rice for a shelter"
people = 6
amount_usd = 120
"""
ACCEPT = ("--yes", "--accept-unverified")
QUICK = ("--interval", "0.3", "--wait", "4")


def run_ceremony(cli: Cli, members: tuple[str, ...]) -> None:
    """Each member's `council ceremony run` as its own process, all at once, to the end."""
    env = {**environment(), "TESSERA_PASSPHRASE": PASSPHRASE}
    runs = [
        subprocess.Popen(
            fastcli.command("--home", str(cli.root / m), "council", "ceremony", "run", *ACCEPT, *QUICK),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in members
    ]
    results = []
    try:
        for member, process in zip(members, runs, strict=True):
            out, err = process.communicate(timeout=300)
            results.append((member, process.returncode, out, err))
    finally:
        for process in runs:  # a failed or stuck run leaves nothing behind
            if process.poll() is None:
                process.kill()
                process.communicate()
    for member, code, out, err in results:
        assert code == 0 and "done: the council key exists" in out, f"{member}: {out}\n{err}"


def everyone_works(cli: Cli, people: tuple[str, ...]) -> None:
    """Nobody is locked out: each person's device verifies the directory and sees what waits for them."""
    for who in people:
        code, _, err = cli.run(who, "sync")
        assert code == 0, f"{who} is locked out: {err}"
        code, _, err = cli.run(who, "todo")
        assert code == 0, f"{who}: todo: {err}"


def test_the_everyday_story_survives_every_kind_of_rotation(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, port = tmp_path / "srv", free_port()
    invite = init_server(data, f"http://127.0.0.1:{port}")
    people = ("admin", "kim", "lee", "park", "hana", "jun")
    monkeypatch.chdir(tmp_path)
    with running_server(data, port, env=environment()):
        cli.ok("admin", "join", invite, "--name", "admin")
        for name, role in (("kim", "council"), ("lee", "council"), ("park", "council"), ("hana", "helper"), ("jun", "helper")):
            cli.ok(name, "join", cli.ok("admin", "admin", "invite", "--role", role, "--name", name).strip(), "--name", name)
        later = cli.ok("admin", "admin", "invite", "--role", "helper", "--name", "ryu", "--days", "30").strip()  # not used yet
        cli.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
        run_ceremony(cli, ("kim", "lee", "park"))
        Path("form.toml").write_text(MEDICAL)
        Path("face.jpg").write_bytes(photo_with_gps())
        medical = cli.ok("hana", "intake", "submit", "--kind", "medical", "--form", "form.toml", "--attach", "face.jpg")
        case_a = medical.strip().splitlines()[-1]
        Path("form.toml").write_text(FOOD)
        cli.ok("jun", "sync")  # before going offline: the council key for sealing
        Path("receipt.txt").write_text("rice, 20 kg, 35 USD\n" * 2000)
        offline = ("--offline", "--attach", "receipt.txt", "--case-file")
        food = cli.ok("jun", "intake", "submit", "--kind", "food", "--form", "form.toml", *offline)
        case_b = food.strip().splitlines()[-1]
        for original in ("face.jpg", "receipt.txt"):
            Path(original).unlink()  # as the tool advises: the outbox holds sealed copies

        # 1. a council member's keys: noted by everyone, then a membership change with the same members
        cli.ok("lee", "rotate-keys")
        everyone_works(cli, people)
        cli.ok("admin", "council", "redistribute", "--threshold", "2", "--members", "kim,lee,park")
        run_ceremony(cli, ("kim", "lee", "park"))
        cli.ok("kim", "council", "rewrap")
        assert json.loads(cli.ok("lee", "cases", "show", case_a, "--json"))["kind"] == "medical"

        # 2. the administrator's keys: helpers and council go on; new invites are signed with the new keys
        cli.ok("admin", "rotate-keys")
        everyone_works(cli, people)
        seo = cli.ok("admin", "admin", "invite", "--role", "helper", "--name", "seo").strip()

    # 3. the server's key: rotated while it is stopped, then started again on the same port
    rotated = server_cli("rotate-key", "--data", str(data), env=environment())
    assert rotated.returncode == 0, rotated.stderr
    with running_server(data, port, env=environment()):
        everyone_works(cli, people)

        # 4. a membership change: mina joins the council in park's place (same council key)
        mina = cli.ok("admin", "admin", "invite", "--role", "council", "--name", "mina").strip()
        cli.ok("mina", "join", mina, "--name", "mina")
        cli.ok("admin", "council", "redistribute", "--threshold", "2", "--members", "kim,lee,mina", "--dealers", "kim,lee")
        run_ceremony(cli, ("kim", "lee", "mina"))
        cli.ok("kim", "council", "rewrap")
        assert json.loads(cli.ok("mina", "cases", "show", case_a, "--json"))["case_file"]["condition"] == "broken leg"

        # 5. a re-key: a new council key; jun, back online while it switches, sends what waited in her outbox
        cli.ok("admin", "council", "rekey", "start", "--threshold", "2", "--members", "kim,lee,mina")
        run_ceremony(cli, ("kim", "lee", "mina"))
        assert "sent 1 intake(s) and 1 attachment(s)" in cli.ok("jun", "outbox", "flush")
        for member in ("kim", "lee"):
            cli.ok(member, "council", "rekey", "contribute")
        cli.ok("lee", "council", "rekey", "attest")
        assert "re-key is complete" in cli.ok("mina", "council", "rekey", "attest")
        cli.ok("kim", "council", "rewrap")

        # nobody is locked out, no invite, case or outbox item is lost
        everyone_works(cli, (*people, "mina"))
        assert "Joined as ryu (helper)" in cli.ok("ryu", "join", later, "--name", "ryu")
        assert "Joined as seo (helper)" in cli.ok("seo", "join", seo, "--name", "seo")
        assert json.loads(cli.ok("jun", "outbox", "list", "--json"))["items"] == []
        listed = {c["case_id"]: c for c in json.loads(cli.ok("mina", "cases", "list", "--json"))["cases"]}
        assert set(listed) == {case_a, case_b} and all(c["problem"] is None for c in listed.values())
        assert [c["case_id"] for c in json.loads(cli.ok("hana", "cases", "list", "--json"))["cases"]] == [case_a]
        (attachment,) = json.loads(cli.ok("lee", "cases", "attachments", case_b, "--json"))["attachments"]
        cli.ok("lee", "cases", "fetch-attachment", case_b, attachment["attachment_id"], "--out", "back.txt")
        assert Path("back.txt").read_text() == "rice, 20 kg, 35 USD\n" * 2000
        request = cli.ok("mina", "reveal", "request", case_a, "--purpose", "hospital admission").strip()
        for member in ("kim", "lee"):
            cli.ok(member, "reveal", "approve", request, "--yes")
        opened = json.loads(cli.ok("mina", "reveal", "open", request, "--attachments-to", "files", "--json"))
        assert opened["identity"]["full_name"] == "박서준" and len(opened["attachments"]) == 1
        proposal = cli.ok("kim", "decision", "propose", case_b, "--action", "approve", "--note", "rice for six weeks").strip()
        for member in ("kim", "mina"):
            cli.ok(member, "decision", "vote", proposal, "--yes")
        (mine,) = json.loads(cli.ok("jun", "inbox", "--json"))["cases"]
        assert mine["outcomes"][0]["note"] == "rice for six weeks"
        assert "hash chain intact" in cli.ok("kim", "audit", "verify")
    assert os.environ.get("TESSERA_PASSPHRASE") == PASSPHRASE
