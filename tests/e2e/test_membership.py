"""The lost-device story (issue 5, items 3 and 8): a council member loses their device; the council
replaces that share by redistribution to a new member, with the same council key and nothing re-encrypted;
the newcomer reads old cases after a re-wrap and takes part in a reveal; the lost member's wraps are gone."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from client.home import Home
from tests.forms import MEDICAL
from tests.support.processes import PASSPHRASE, Cli, build_organisation, reveal, step_until_done

from ..disk import on_disk


def test_a_lost_share_is_replaced_by_redistribution(cli: Cli, tmp_path: Path, live_server: tuple[str, str, Path]) -> None:
    _url, invite, data = live_server
    case = build_organisation(cli, invite, helper_form=MEDICAL, form_dir=tmp_path)
    assert case
    before = Home.open(cli.root / "kim", PASSPHRASE).state["council"]["council_key"]
    # hana seals an intake while she is away (offline), before the council changes
    form = tmp_path / "away.toml"
    form.write_text(MEDICAL.replace("broken leg", "sealed while away"))
    away = cli.ok("hana", "intake", "submit", "--kind", "medical", "--form", str(form), "--offline").strip().splitlines()[-1]
    # park's device is lost: revoke it at once; invite a replacement
    park_public = Home.open(cli.root / "park", PASSPHRASE).keys.public().box_key
    with sqlite3.connect(data / "tessera.db") as db:
        park_wraps = [r[0] for r in db.execute("SELECT sealed FROM case_wraps WHERE recipient = ?", (park_public,))]
    assert park_wraps and all(w in on_disk(data) for w in park_wraps)
    cli.ok("admin", "admin", "revoke", "park")
    assert not any(w in on_disk(data) for w in park_wraps)  # deleted at revocation, WAL included
    cli.ok("mina", "join", cli.ok("admin", "admin", "invite", "--role", "council", "--name", "mina").strip(), "--name", "mina")
    cli.ok("admin", "council", "redistribute", "--threshold", "2", "--members", "kim,lee,mina")
    step_until_done(cli, ("kim", "lee", "mina"))
    synced = cli.ok("mina", "sync")
    assert "council key of epoch 2: 2 of 3 members (kim, lee, mina)" in synced
    after = Home.open(cli.root / "kim", PASSPHRASE).state["council"]["council_key"]
    assert after == before, "the council key must not change"
    kim_secrets = Home.open(cli.root / "kim", PASSPHRASE).section("ceremony")
    assert "share:2" in kim_secrets and "share:1" not in kim_secrets  # the old share is erased
    # the intake sealed to the earlier epoch (same council key) is accepted when hana is back online
    assert "sent 1" in cli.ok("hana", "outbox", "flush")
    # before the re-wrap the newcomer has no key for the old cases; after it, she reads them
    # hana's device wrapped the late intake's case key again to the current council (mina in, park out) before
    # sending it (client/outbox.py), so mina reads it at once; the older case needs a council member's re-wrap
    assert json.loads(cli.ok("mina", "cases", "show", away, "--json"))["case_file"]["condition"] == "sealed while away"
    code, _, err = cli.run("mina", "cases", "show", case)
    assert code == 1 and "no key wrap for you" in err
    assert "added 1 key wrap(s)" in cli.ok("kim", "council", "rewrap")  # mina's, for the older case
    assert "added 0 key wrap(s)" in cli.ok("lee", "council", "rewrap")  # repeating it adds nothing
    assert json.loads(cli.ok("mina", "cases", "show", case, "--json"))["case_file"]["condition"] == "broken leg"
    # the new council reveals with its new shares: kim asks, mina approves
    assert reveal(cli, case, "kim", ("mina", "kim"))["identity"]["full_name"] == "박서준"
    assert "hash chain intact" in cli.ok("admin", "audit", "verify")
    with sqlite3.connect(data / "tessera.db") as db:
        recipients = {r[0] for r in db.execute("SELECT recipient FROM case_wraps")}
    assert park_public not in recipients and len(recipients) == 3  # park's wrap of the late intake was not kept


def test_a_council_member_rotates_keys_through_a_membership_change(
    cli: Cli, tmp_path: Path, live_server: tuple[str, str, Path]
) -> None:
    _url, invite, _data = live_server
    case = build_organisation(cli, invite, helper_form=MEDICAL, form_dir=tmp_path)
    assert case
    rotated = cli.ok("lee", "rotate-keys")
    assert "membership change" in rotated
    for who in ("kim", "park", "admin"):
        cli.ok(who, "verify", "lee", "--accept")  # compared in person
    cli.ok("admin", "council", "redistribute", "--threshold", "2", "--members", "kim,lee,park")
    step_until_done(cli, ("kim", "lee", "park"))
    assert "added 1 key wrap(s)" in cli.ok("kim", "council", "rewrap")  # for lee's new box key
    assert json.loads(cli.ok("lee", "cases", "show", case, "--json"))["case_file"]["condition"] == "broken leg"
    assert reveal(cli, case, "lee", ("park", "lee"))["identity"]["full_name"] == "박서준"
