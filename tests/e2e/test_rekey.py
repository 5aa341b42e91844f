"""Full council re-key end to end (issue 5, item 4): park is removed for cause; a key ceremony makes a new
council key for kim, lee and mina; kim and lee switch every identity header to it (kim's run is cut off
and resumes); lee and mina check every switch and attest; the original headers are gone, the old shares
open nothing, and the new council reveals."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import client.rekey
from client.api import Api, ServerUnreachableError
from client.home import Home
from keys.council import EpochRecord
from keys.encoding import b64u_decode
from keys.errors import DecryptionError
from keys.group import Point, Scalar, multi_mul
from keys.kem import unwrap_identity_key
from keys.keyswitch import SwitchedHeader
from keys.sharing import lagrange_coefficients
from keys.wire import from_wire
from tests.forms import MEDICAL
from tests.support.processes import PASSPHRASE, Cli, build_organisation, reveal, step_until_done

from ..disk import on_disk


def _old_secrets(cli: Cli, who: str) -> tuple[int, Scalar]:
    home = Home.open(cli.root / who, PASSPHRASE)
    record = from_wire(EpochRecord, home.state["council"])
    member = record.member_by_sign_key(home.keys.public().sign_key)
    assert member is not None
    return member.index, Scalar(b64u_decode(home.section("ceremony")[f"share:{record.epoch}"]))


def test_a_member_removed_for_cause_leaves_a_council_key_that_opens_nothing(
    cli: Cli, tmp_path: Path, live_server: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _url, invite, data = live_server
    first = build_organisation(cli, invite, helper_form=MEDICAL, form_dir=tmp_path)
    assert first
    form = tmp_path / "second.toml"
    form.write_text(MEDICAL.replace("박서준", "김하늘"))  # sealed offline before the re-key, sent during it
    offline = cli.ok("hana", "intake", "submit", "--kind", "medical", "--form", str(form), "--offline")
    second = offline.strip().splitlines()[-1]
    cli.ok("jin", "join", cli.ok("admin", "admin", "invite", "--role", "helper", "--name", "jin").strip(), "--name", "jin")
    form.write_text(MEDICAL.replace("박서준", "최유나"))  # jin seals offline too, but sends only after the re-key
    assert cli.ok("jin", "intake", "submit", "--kind", "medical", "--form", str(form), "--offline")
    old_shares = dict(_old_secrets(cli, who) for who in ("kim", "lee"))  # what a thief of both devices would hold

    # park is removed for cause; mina joins; the new council makes a new key
    cli.ok("admin", "admin", "revoke", "park")
    cli.ok("mina", "join", cli.ok("admin", "admin", "invite", "--role", "council", "--name", "mina").strip(), "--name", "mina")
    code, _, err = cli.run("admin", "council", "rekey", "start", "--threshold", "2", "--members", "kim,mina,admin")
    assert code == 1 and "not an active council account" in err
    assert "re-key opened" in cli.ok("admin", "council", "rekey", "start", "--threshold", "2", "--members", "kim,lee,mina")
    step_until_done(cli, ("kim", "lee", "mina"))
    assert "0 of 1 case(s) switched, 1 waiting" in cli.ok("admin", "council", "rekey", "status")
    # hana's intake sealed to the old key before she heard of the re-key is accepted and switched too
    assert "sent 1" in cli.ok("hana", "outbox", "flush")
    assert "0 of 2 case(s) switched, 2 waiting" in cli.ok("admin", "council", "rekey", "status")
    with sqlite3.connect(data / "tessera.db") as db:
        original_r = {json.loads(e)["header"]["r"] for (e,) in db.execute("SELECT envelope FROM cases")}
    assert len(original_r) == 2 and all(r.encode() in on_disk(data) for r in original_r)  # the probe sees them
    status = json.loads(cli.ok("kim", "council", "rekey", "status", "--json"))
    assert (status["state"], status["cases"], status["remaining"]) == ("switching", 2, 2)

    # until the switch is done, the old cases cannot be revealed; new intakes go to the new key
    code, _, err = cli.run("kim", "reveal", "request", first, "--purpose", "hospital")
    assert code != 0 and "previous council key" in err
    form.write_text(MEDICAL.replace("박서준", "이도윤"))
    third = cli.ok("hana", "intake", "submit", "--kind", "medical", "--form", str(form)).strip().splitlines()[-1]
    assert json.loads(cli.ok("kim", "council", "rekey", "status", "--json"))["cases"] == 2  # not part of the switch

    # an attestation before every case is switched is refused
    code, _, err = cli.run("lee", "council", "rekey", "attest")
    assert code != 0 and "still wait for key-switch contributions" in err

    # kim's run is cut off after the first batch of one case; run again, it does the rest only
    monkeypatch.setattr(client.rekey, "PAGE", 1)
    real_call = Api.call
    posts = []

    async def flaky(self: Api, method: str, path: str, **kw: Any) -> Any:
        if path == "/v1/rekey/contributions":
            posts.append(len(kw["body"]["contributions"]))
            if len(posts) == 2:
                raise ServerUnreachableError("link dropped")
        return await real_call(self, method, path, **kw)

    monkeypatch.setattr(Api, "call", flaky)
    code, _, _err = cli.run("kim", "council", "rekey", "contribute")
    assert code != 0 and posts == [1, 1]
    monkeypatch.setattr(Api, "call", real_call)
    assert "contributed to 1 case(s); 2 case(s) still wait" in cli.ok("kim", "council", "rekey", "contribute")
    assert "contributed to 0 case(s)" in cli.ok("kim", "council", "rekey", "contribute")
    assert "every case is switched" in cli.ok("lee", "council", "rekey", "contribute")
    with sqlite3.connect(data / "tessera.db") as db:
        contributions = db.execute("SELECT member, count(*) FROM switch_contributions GROUP BY member").fetchall()
    assert sorted(contributions) == [(1, 2), (2, 2)]  # each case once per member, the cut-off batch included

    # the new council checks every switch (mina on worker processes, as for a large re-key) and attests
    monkeypatch.setattr(client.rekey, "POOL_MIN", 0)
    spawned = []
    real_pool = client.rekey.ProcessPoolExecutor

    def counting_pool(*a: Any, **kw: Any) -> Any:
        spawned.append(a)
        return real_pool(*a, **kw)

    monkeypatch.setattr(client.rekey, "ProcessPoolExecutor", counting_pool)
    assert "1 of 2 signatures" in cli.ok("lee", "council", "rekey", "attest")
    assert len(spawned) == (1 if client.rekey.WORKERS > 1 else 0)
    done = cli.ok("mina", "council", "rekey", "attest")
    assert "2 of 2 signatures" in done and "re-key is complete" in done
    # the original headers are deleted, and no older copy of their pages stays (WAL, free pages)
    assert not any(r.encode() in on_disk(data) for r in original_r)
    assert "rekey forget" in cli.ok("kim", "council", "rekey", "status")  # nothing is erased on a status
    assert "share:1" in Home.open(cli.root / "kim", PASSPHRASE).section("ceremony")
    forgot = cli.ok("kim", "council", "rekey", "forget", "--yes")  # checked: k signatures over every switched case
    assert "attested 2 switched case(s)" in forgot and "erased your share of the old council key" in forgot
    assert "share:1" not in Home.open(cli.root / "kim", PASSPHRASE).section("ceremony")
    assert "is complete" in cli.ok("lee", "council", "rekey", "status")

    # the original headers are gone from the database; only switched, attested ones remain
    with sqlite3.connect(data / "tessera.db") as db:
        headers = [json.loads(e)["header"] for (e,) in db.execute("SELECT envelope FROM cases")]
        switched = db.execute("SELECT count(*) FROM switched_headers WHERE attestation IS NOT NULL").fetchone()[0]
        left = db.execute("SELECT count(*) FROM switch_contributions").fetchone()[0]
        dump = "\n".join(db.iterdump())
    assert sorted(h is None for h in headers) == [False, True, True]  # the third was sealed to the new key
    assert (switched, left) == (2, 0)
    for r in original_r:
        assert r not in dump and b64u_decode(r).hex() not in dump.lower()

    # the old shares of kim and lee (k of the old council) fail on every switched header
    for case in (first, second):
        raw = json.loads(cli.ok("kim", "cases", "show", case, "--json"))
        assert raw["case_file"]["condition"] == "broken leg"  # the case file still checks against the signed header
        header = _switched_header(data, case)
        weights = lagrange_coefficients(sorted(old_shares))
        x_r = multi_mul((weights[i] * old_shares[i], Point.decode(header.r)) for i in sorted(old_shares))
        with pytest.raises(DecryptionError):
            unwrap_identity_key(case_id=b64u_decode(case), wrap=header.wrap, m=Point.decode(header.c) - x_r)

    # park's case-key wraps went with the new council; mina gets hers from kim's client
    park = Home.open(cli.root / "park", PASSPHRASE).keys.public().box_key
    with sqlite3.connect(data / "tessera.db") as db:
        assert park not in {r[0] for r in db.execute("SELECT recipient FROM case_wraps")}
    assert "added 2 key wrap(s)" in cli.ok("kim", "council", "rewrap")
    # the new council reveals: mina asks, lee approves with his new share, kim too
    assert reveal(cli, second, "mina", ("lee", "kim"))["identity"]["full_name"] == "김하늘"
    assert reveal(cli, third, "kim", ("mina", "kim"))["identity"]["full_name"] == "이도윤"
    assert "hash chain intact" in cli.ok("admin", "audit", "verify")
    # an intake still sealed to the replaced key cannot be delivered any more, and jin is told why
    code, _, err = cli.run("jin", "outbox", "flush")
    assert code != 0 and "sealed to a council key that has since been replaced" in err
    assert len(list(Home.open(cli.root / "jin", PASSPHRASE).outbox())) == 1  # kept, not silently dropped


def _switched_header(data: Path, case: str) -> SwitchedHeader:
    with sqlite3.connect(data / "tessera.db") as db:
        r, c, wrap, origin = db.execute(
            "SELECT r, c, wrap, origin FROM switched_headers WHERE case_id = ?", (b64u_decode(case),)
        ).fetchone()
    return SwitchedHeader(r=r, c=c, wrap=wrap, origin=origin)
