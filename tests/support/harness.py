"""The organisation a hostile-server test starts from, built once per session through the real CLI against an
honest server and copied for each test (`Org`, `run_ceremony`, `build_bare`, `build_full`). Its fixtures and the
organisation's description are in tests/hostile/conftest.py."""

from __future__ import annotations

import contextlib
import datetime
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.home import Home
from client.main import main
from client.samples import photo_with_gps
from server.main import initialise
from tests.forms import FOOD, MEDICAL
from tests.hostile.relay import Relay, Stack

PASSPHRASE = "six words at least here for everyone"


ENV = {"TESSERA_PASSPHRASE": PASSPHRASE}


COUNCIL = ("kim", "lee", "park")


@contextlib.contextmanager
def cli_environment() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Org:
    """One test's copy of the organisation, served through a relay."""

    root: Path
    stack: Stack
    case: str  # hana's medical intake, with an identity photo
    case2: str  # hana's food intake

    @property
    def relay(self) -> Relay:
        return self.stack.relay

    def home_path(self, who: str) -> Path:
        return self.root / "homes" / who

    def home(self, who: str) -> Home:
        return Home.open(self.home_path(who), PASSPHRASE)

    def received_on(self, case: str) -> datetime.date:
        """The day the server received hana's intake `case` (its receipt's day: the shared organisation may have
        been built before midnight, a test run after it)."""
        day = int(self.home("hana").section("receipts")[case]["day"])
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=day)

    def run(self, who: str, *argv: str, stdin: str | None = None) -> Run:
        """The real `tessera` command for `who`, talking to the relay."""
        out, err = io.StringIO(), io.StringIO()
        with cli_environment(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--home", str(self.home_path(who)), "--server", self.stack.url, *argv])
        result = Run(code, out.getvalue(), err.getvalue())
        assert "Traceback" not in result.err, result.err
        return result

    def ok(self, who: str, *argv: str) -> str:
        result = self.run(who, *argv)
        assert result.code == 0, f"{who} {' '.join(argv)}: exit {result.code}\n{result.err}"
        return result.out

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path


def build_bare(root: Path) -> None:
    """admin, the council accounts kim, lee, park, and the helpers hana and mina: no key ceremony yet."""
    data = root / "server"
    invite, _ = initialise(data, db_url=None, url="http://tessera.test", admin_name="admin")
    with Stack(data) as stack:
        org = Org(root, stack, "", "")
        org.ok("admin", "join", invite, "--name", "admin")
        for name in (*COUNCIL, "hana", "mina"):
            role = "council" if name in COUNCIL else "helper"
            org.ok(name, "join", org.ok("admin", "admin", "invite", "--role", role, "--name", name).strip(), "--name", name)


CONFIRM = ("--yes", "--accept-unverified")  # a member who read the plan and accepts it as shown


def run_ceremony(org: Org, members: tuple[str, ...] = COUNCIL) -> None:
    """Each member runs `council ceremony step` in turn until all report done (bounded)."""
    for _ in range(10):
        if all(["done" in org.ok(m, "council", "ceremony", "step", *CONFIRM) for m in members]):
            return
    raise AssertionError(f"the ceremony did not finish for {', '.join(members)}")


def build_full(root: Path) -> tuple[str, str]:
    """The bare organisation after its key ceremony (2 of 3), with hana's two intakes: a medical case with an
    identity photo, and a food case."""
    with Stack(root / "server") as stack:
        org = Org(root, stack, "", "")
        org.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", ",".join(COUNCIL))
        run_ceremony(org)
        photo = root / "face.jpg"
        photo.write_bytes(photo_with_gps())
        form = org.write("form.toml", MEDICAL)
        out = org.ok("hana", "intake", "submit", "--kind", "medical", "--form", str(form), "--attach", str(photo))
        case = out.strip().splitlines()[-1]
        form = org.write("form.toml", FOOD)
        case2 = org.ok("hana", "intake", "submit", "--kind", "food", "--form", str(form)).strip().splitlines()[-1]
        photo.unlink()
        return case, case2


def field_of(body: Any, *path: str | int) -> Any:
    for p in path:
        body = body[p]
    return body
