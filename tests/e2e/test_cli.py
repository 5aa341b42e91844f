"""The `tessera` CLI through main(argv) against a real `tessera-server run` process, and `tessera demo`
as a subprocess. Every error a user can make ends in one or two plain lines and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from client.api import Api
from client.home import Home
from keys.council import EpochRecord
from keys.encoding import b64u_decode
from keys.envelope import IntakeEnvelope
from keys.messages import seal_message
from keys.wire import from_wire, to_wire
from tests.forms import MEDICAL
from tests.support.processes import PASSPHRASE, Cli, environment, free_port, running_server, server_cli, step_until_done


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    root = tmp_path_factory.mktemp("cli")
    port = free_port()
    init = server_cli("init", "--data", str(root / "srv"), "--url", f"http://127.0.0.1:{port}", "--json", env=environment())
    assert init.returncode == 0, init.stderr
    with running_server(root / "srv", port, env=environment()):
        yield f"http://127.0.0.1:{port}", json.loads(init.stdout.strip().splitlines()[-1])["invite"], root / "srv"


def test_every_command_and_each_user_error(cli: Cli, server: tuple[str, str, Path], tmp_path: Path) -> None:
    url, invite, data = server
    cli.ok("admin", "join", invite, "--name", "admin")
    code, _, err = cli.run("again", "join", invite, "--name", "admin")
    assert code == 1 and "used already" in err
    names = {"kim": "council", "lee": "council", "park": "council", "hana": "helper"}
    for name, role in names.items():
        cli.ok(name, "join", cli.ok("admin", "admin", "invite", "--role", role, "--name", name).strip(), "--name", name)
    code, _, err = cli.run("x", "join", "tessera-invite:garbage", "--name", "x")
    assert code == 1 and "damaged or incomplete" in err
    whoami = json.loads(cli.ok("kim", "whoami", "--json"))
    assert whoami["account"] == "kim" and len(whoami["safety_number"].split()) == 6
    cli.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
    step_until_done(cli, ("kim", "lee", "park"))
    assert json.loads(cli.ok("lee", "council", "ceremony", "status", "--json"))["state"] == "done"

    # intake: a bad form names each bad field; a good one is sealed, sent, and deleted from disk
    form = tmp_path / "form.toml"
    form.write_text(MEDICAL.replace('urgency = "high"', 'urgency = "soon"').replace("amount_usd = 800", 'amount_usd = "lots"'))
    code, _, err = cli.run("hana", "intake", "submit", "--kind", "medical", "--form", str(form))
    assert code == 2 and "urgency:" in err and "amount_usd:" in err
    template = cli.ok("hana", "intake", "new", "medical")
    assert "[identity]" in template and "full_name" in template
    form.write_text(MEDICAL)
    case = cli.ok("hana", "intake", "submit", "--kind", "medical", "--form", str(form)).strip().splitlines()[-1]
    assert not form.exists()

    # offline: the server does not answer; the intake waits sealed in the outbox, then goes out
    form.write_text(MEDICAL.replace("broken leg", "fever"))
    dead = f"http://127.0.0.1:{free_port()}"
    offline_case = (
        cli.ok("hana", "--server", dead, "intake", "submit", "--kind", "medical", "--form", str(form)).strip().splitlines()[-1]
    )
    code, out, _ = cli.run("hana", "--server", dead, "outbox", "flush")
    assert code == 1 and "still waiting" in out
    assert "sent 1" in cli.ok("hana", "outbox", "flush")
    assert "sent 0" in cli.ok("hana", "outbox", "flush")
    listed = {c["case_id"] for c in json.loads(cli.ok("kim", "cases", "list", "--json"))["cases"]}
    assert {case, offline_case} <= listed
    shown = json.loads(cli.ok("kim", "cases", "show", case, "--json"))
    assert shown["case_file"]["condition"] == "broken leg" and shown["author_verified"] is True
    assert "박서준" not in json.dumps(shown)
    code, _, err = cli.run("kim", "cases", "show", "AAAAAAAAAAAAAAAAAAAAAA")
    assert code == 1 and "no such case" in err
    code, _, err = cli.run("kim", "cases", "show", "nope")
    assert code == 2 and "not a case id" in err

    # reveal: one approval is not a quorum, two are
    request = cli.ok("kim", "reveal", "request", case, "--purpose", "admission").strip()
    assert request in cli.ok("lee", "reveal", "pending")
    cli.ok("lee", "reveal", "approve", request, "--yes")
    code, _, err = cli.run("kim", "reveal", "open", request)
    assert code == 1 and "not enough approvals" in err
    cli.ok("park", "reveal", "approve", request, "--yes")
    assert json.loads(cli.ok("kim", "reveal", "open", request, "--json"))["identity"]["full_name"] == "박서준"

    # decision, messages, inbox, audit
    proposal = cli.ok("kim", "decision", "propose", case, "--action", "approve", "--note", "800 USD").strip()
    cli.ok("kim", "decision", "vote", proposal, "--yes")
    assert "adopted" in cli.ok("park", "decision", "vote", proposal, "--yes")
    cli.ok("lee", "messages", "send", case, "--text", "paid")
    cli.ok("lee", "messages", "send", case, "--text", "council only", "--council-only")
    cli.ok("hana", "messages", "send", case, "--text", "thank you 감사합니다")
    texts = [m["text"] for m in json.loads(cli.ok("kim", "messages", "list", case, "--json"))["messages"]]
    assert texts == ["paid", "council only", "thank you 감사합니다"]
    inbox = json.loads(cli.ok("hana", "inbox", "--json"))["cases"]
    mine = next(c for c in inbox if c["case_id"] == case)
    assert mine["state"] == "decided" and mine["outcomes"][0]["note"] == "800 USD" and mine["outcomes"][0]["state"] == "adopted"
    # a decision the server calls adopted without a majority of signed yes votes is shown as the votes say
    second = cli.ok("kim", "decision", "propose", offline_case, "--action", "approve", "--note", "forged").strip()
    cli.ok("kim", "decision", "vote", second, "--yes")
    with sqlite3.connect(data / "tessera.db") as db:
        db.execute("UPDATE proposals SET state = 'adopted' WHERE proposal_id = ?", (b64u_decode(second),))
    shown = json.loads(cli.ok("kim", "cases", "show", offline_case, "--json"))["decisions"]
    assert [(d["state"], d["server_state"]) for d in shown] == [("open", "adopted")] and shown[0]["yes_votes_verified"] == 1
    assert [m["text"] for m in mine["messages"]] == ["paid", "thank you 감사합니다"]
    assert "hash chain intact" in cli.ok("admin", "audit", "verify")

    # a message whose signature does not belong to the name it claims (what a server could forge) is flagged
    forge_message(cli, case, url=url, claimed="kim", signer="lee")
    flagged = next(m for m in json.loads(cli.ok("hana", "inbox", "--json"))["cases"] if m["case_id"] == case)["messages"]
    assert flagged[-1]["author"] == "kim (UNVERIFIED SENDER)" and flagged[-1]["verified"] is False
    assert all(m["verified"] for m in flagged[:-1])

    # a changed key for a known person blocks until verified again
    home = Home.open(cli.root / "hana", PASSPHRASE)
    home.section("known")["kim"]["sign_key"] = home.section("known")["lee"]["sign_key"]
    home.save()
    code, _, err = cli.run("hana", "sync")
    assert code == 3 and "keys of kim changed" in err
    cli.ok("hana", "verify", "kim", "--accept")
    assert "council key of epoch 1" in cli.ok("hana", "sync")

    # a wrong passphrase, a revoked account
    code, _, err = cli.run("hana", "--passphrase-file", str(_file(tmp_path, "wrong words entirely here")), "sync")
    assert code == 1 and "wrong passphrase" in err
    cli.ok("admin", "admin", "revoke", "hana")
    code, _, err = cli.run("hana", "sync")
    assert code == 1 and "does not accept this account" in err


def forge_message(cli: Cli, case: str, *, url: str, claimed: str, signer: str) -> None:
    home = Home.open(cli.root / signer, PASSPHRASE)

    async def post() -> None:
        async with aiohttp.ClientSession() as session:
            api = Api(url, session, keys=home.keys, principal=home.account)
            envelope = from_wire(IntakeEnvelope, (await api.call("GET", f"/v1/cases/{case}"))["envelope"])
            record = from_wire(EpochRecord, home.state["council"])
            readers = [m.box_key for m in record.members] + [envelope.reply_box_key]
            message = seal_message(
                case_id=envelope.case_id, thread="case", text="forged", author=claimed, author_keys=home.keys, readers=readers
            )
            await api.call("POST", f"/v1/cases/{case}/messages", body=to_wire(message))

    asyncio.run(post())


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pass.txt"
    path.write_text(text + "\n")
    return path


def test_demo_runs_the_whole_story_and_leaves_nothing_running() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "tessera"), "demo"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    for line in (
        "Key ceremony: done",
        "with one approval it stays closed",
        "removed: EXIF (camera, time, settings) with GPS position",
        "kim tried to open the photo alone: this attachment is sealed with the identity",
        "read the identity: 김영희",
        "and opened 1 photo",
        "the decision is adopted",
        "hash chain intact",
        "ciphertext only",
        "Demo complete",
        "`tessera --home H app`",
    ):
        assert line in result.stdout, line
    assert "Traceback" not in result.stderr
    leftover = subprocess.run(["pgrep", "-f", "tessera-server run --data /tmp/tessera-demo-"], capture_output=True, check=False)
    assert leftover.stdout == b""
