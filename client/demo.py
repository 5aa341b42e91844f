"""`tessera demo`: the whole story against a real `tessera-server` process on a temporary SQLite data
directory and a free loopback port, through real client homes. Each step prints one line."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from client.home import KdfPolicy, use_kdf_policy
from client.samples import photo_with_gps
from keys.encoding import b64u_decode

FORMS = {
    "medical": """kind = "medical"
schema = 1
[identity]
full_name = "김영희 (Kim Young-hee)"
date_of_birth = "1990-03-01"
exact_location = "연길시 북대 시장 뒤 두 번째 집"
hospital = "延边大学附属医院"
[case]
region = "Jilin"
urgency = "critical"
narrative = "Appendicitis; needs an emergency operation this week. No papers, cannot pay."
treatment = "emergency-operation"
condition = "acute appendicitis"
amount_usd = 1500
""",
    "schooling": """kind = "schooling"
schema = 1
[identity]
full_name = "李明 (Lee Myung)"
exact_location = "shelter B, second floor"
guardian_name = "foster mother, church member"
[case]
region = "Liaoning"
urgency = "medium"
narrative = "Ten-year-old boy, attends no school; a foster-parent sponsor would pay for school."
child_age = 10
sponsor_needed = true
amount_usd = 300
""",
    "food-distribution": """kind = "food-distribution"
schema = 1
[identity]
reporter = "route leader P."
[case]
route = "RN-01"
month = "2026-10"
rice_kg = 5200
shelters = 14
notes = "one shelter moved; the extra 200 kg went to the new place"
""",
}

CEREMONY_STEP = ("council", "ceremony", "step", "--yes", "--accept-unverified")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Tessera = Callable[[Sequence[str]], int]  # `client.main.main`, given by the caller (main.py imports this module)


class Demo:
    def __init__(self, root: Path, port: int, tessera: Tessera) -> None:
        self.root = root
        self.main = tessera
        self.server = f"http://127.0.0.1:{port}"
        self.step_no = 0

    def say(self, text: str) -> None:
        self.step_no += 1
        print(f"{self.step_no:>2}. {text}", flush=True)

    def tessera(self, who: str, *argv: str, expect_fail: bool = False) -> str:
        """Run one `tessera` command as `who` (its own home) in this process; returns its stdout."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = self.main(["--home", str(self.root / "homes" / who), *argv])
        if (code != 0) != expect_fail:
            raise RuntimeError(f"`tessera {' '.join(argv)}` as {who} exited {code}: {err.getvalue().strip() or out.getvalue()}")
        return out.getvalue() if not expect_fail else err.getvalue()


@contextlib.contextmanager
def _server(root: Path, port: int) -> Iterator[tuple[Path, str]]:
    data = root / "server"
    bin_dir = Path(sys.executable).parent
    init = subprocess.run(  # noqa: S603 - our own program, fixed arguments
        [str(bin_dir / "tessera-server"), "init", "--data", str(data), "--url", f"http://127.0.0.1:{port}", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise RuntimeError(f"tessera-server init failed: {init.stderr.strip()}")
    invite = json.loads(init.stdout.strip().splitlines()[-1])["invite"]
    log = (root / "server.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own program, fixed arguments
        [str(bin_dir / "tessera-server"), "run", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {(root / 'server.log').read_text()}") from None
                time.sleep(0.1)
        yield data, invite
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run_demo(tessera: Tessera) -> int:
    try:
        return _run_demo(tessera)
    except RuntimeError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1


def _run_demo(tessera: Tessera) -> int:
    os.environ.setdefault("TESSERA_PASSPHRASE", "demo passphrase: correct horse battery staple")
    use_kdf_policy(KdfPolicy.insecure_fast())  # the demo's own throwaway homes, in this process only
    with tempfile.TemporaryDirectory(prefix="tessera-demo-") as tmp:
        root = Path(tmp)
        port = _free_port()
        print("Tessera demo: a real server on a temporary SQLite database, real clients, the whole story.")
        print("(Keystores use a fast Argon2id setting here so the demo runs quickly; real ones take ~0.2-0.7 s to open.)\n")
        with _server(root, port) as (data, invite):
            d = Demo(root, port, tessera)
            d.say(f"tessera-server init created the organisation; the server runs on {d.server} (SQLite, WAL).")
            d.tessera("admin", "join", invite, "--name", "admin")
            d.say("The administrator joined with the one-time invite printed by init.")
            for name, role in (("kim", "council"), ("lee", "council"), ("park", "council"), ("hana", "helper")):
                member_invite = d.tessera("admin", "admin", "invite", "--role", role, "--name", name).strip()
                d.tessera(name, "join", member_invite, "--name", name)
            d.say("The administrator invited three council members (kim, lee, park) and a field helper (hana); each joined.")
            d.tessera("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
            for _ in range(6):
                outputs = [d.tessera(m, *CEREMONY_STEP) for m in ("kim", "lee", "park")]
                if all("done" in o for o in outputs):
                    break
            else:
                raise RuntimeError("the key ceremony did not finish")
            status = json.loads(d.tessera("kim", "council", "ceremony", "status", "--json"))
            d.say(f"Key ceremony: {status['state']}. Council key shared 2-of-3; no one ever held the whole key.")
            d.tessera("hana", "sync")
            forms = root / "forms"
            forms.mkdir()
            for kind, text in FORMS.items():
                path = forms / f"{kind}.toml"
                path.write_text(text, encoding="utf-8")
                d.tessera("hana", "intake", "submit", "--kind", kind, "--form", str(path), "--offline")
            d.say("hana synced the verified council key; then, offline, she filled three intakes (medical, schooling,")
            print("    a food report; names in Korean and Chinese), each sealed at once into her encrypted outbox.")
            d.tessera("hana", "outbox", "flush")
            d.say(f"Back online, hana flushed the outbox; the forms are gone from her disk ({len(list(forms.iterdir()))} left).")
            listing = json.loads(d.tessera("kim", "cases", "list", "--json"))["cases"]
            shown = [json.loads(d.tessera("kim", "cases", "show", c["case_id"], "--json")) for c in listing]
            medical = next(c for c in shown if c["kind"] == "medical")
            d.say(
                f"kim triaged {len(listing)} cases; the medical one asks {medical['case_file']['amount_usd']} USD for an "
                f"{medical['case_file']['treatment']} (urgency {medical['case_file']['urgency']}), no identity shown."
            )
            case = medical["case_id"]
            photo = root / "injury.jpg"
            photo.write_bytes(photo_with_gps())
            attached = d.tessera("hana", "attach", case, str(photo)).strip().splitlines()
            removed = attached[0].split("removed ", 1)[1]
            d.say(f"hana attached a photo of the injury; before sealing, her client removed: {removed}.")
            print("    A medical case's photos are sealed with the identity: one member alone cannot open them.")
            refused = d.tessera(
                "kim", "cases", "fetch-attachment", case, attached[-1], "--out", str(root / "x.jpg"), expect_fail=True
            )
            d.say(f"kim tried to open the photo alone: {refused.strip().split(': ', 1)[1].split(', through')[0]}.")
            request = d.tessera("kim", "reveal", "request", case, "--purpose", "arrange the hospital admission").strip()
            d.tessera("lee", "reveal", "approve", request, "--yes")
            failed = d.tessera("kim", "reveal", "open", request, expect_fail=True)
            reason = failed.strip().split(":", 1)[1].strip()[:60]
            d.say(f"kim asked to reveal the identity; with one approval it stays closed ({reason}...).")
            d.tessera("park", "reveal", "approve", request, "--yes")
            opened = json.loads(d.tessera("kim", "reveal", "open", request, "--attachments-to", str(root / "opened"), "--json"))
            identity, photos = opened["identity"], opened["attachments"]
            d.say(f"With a second approval kim combined the parts and read the identity: {identity['full_name']},")
            print(f"    and opened {len(photos)} photo ({photos[0]['size']} bytes, no GPS position in it).")
            proposal = d.tessera(
                "kim",
                "decision",
                "propose",
                case,
                "--action",
                "approve",
                "--note",
                "1,500 USD for the operation; lee pays the hospital",
            ).strip()
            d.tessera("kim", "decision", "vote", proposal, "--yes")
            adopted = d.tessera("lee", "decision", "vote", proposal, "--yes").strip()
            d.say(f"kim proposed to pay for the operation; kim and lee voted yes: {adopted}")
            d.tessera("lee", "messages", "send", case, "--text", "We will pay the hospital directly. 병원비는 저희가 냅니다.")
            inbox = json.loads(d.tessera("hana", "inbox", "--json"))["cases"]
            mine = next(c for c in inbox if c["case_id"] == case)
            d.say(
                f"hana's inbox (through the case's reply key): decision '{mine['outcomes'][0]['note']}', "
                f"message '{mine['messages'][0]['text']}'."
            )
            verified = d.tessera("admin", "audit", "verify").strip().splitlines()[0]
            d.say(f"audit verify: {verified}")
            row = _case_row(data / "tessera.db", case)
            d.say("What the server's database holds for that case (ciphertext only):")
            for key, value in row.items():
                print(f"      {key}: {value}")
        print("\nThe server was stopped and the temporary directory removed. Demo complete.")
        print("\nThe same work in a browser, in Korean, Chinese, Japanese or English: `tessera --home H app` opens")
        print("the local app (127.0.0.1, a one-time link; the keys stay in the tessera process). See docs/app.md.")
    return 0


def _case_row(db_path: Path, case_b64: str) -> dict[str, str]:
    con = sqlite3.connect(db_path)
    try:
        cur = con.execute("SELECT state, day, envelope FROM cases WHERE case_id = ?", (b64u_decode(case_b64),))
        state, day, envelope = cur.fetchone()
        wraps = con.execute("SELECT COUNT(*) FROM case_wraps WHERE case_id = ?", (b64u_decode(case_b64),)).fetchone()[0]
    finally:
        con.close()
    data = json.loads(envelope)
    return {
        "state, day": f"{state}, day {day} (no time of day, no helper account, no address)",
        "case_file": data["case_file"][:48] + f"... ({len(data['case_file'])} chars, padded)",
        "identity": data["identity"][:48] + f"... ({len(data['identity'])} chars, padded)",
        "header.r, header.c": f"{data['header']['r'][:20]}..., {data['header']['c'][:20]}...",
        "key wraps": f"{wraps} (one per council member, sealed boxes)",
    }
