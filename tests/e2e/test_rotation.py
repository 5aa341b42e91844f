"""Device key rotation for helpers and administrators (issue 5, item 1, without the council part)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from client.api import Api, ApiError
from client.home import Home
from tests.forms import MEDICAL
from tests.support.processes import PASSPHRASE, Cli, build_organisation, environment, free_port, init_server, running_server


def test_a_helper_rotates_its_keys(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "srv"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    invite = init_server(data, url)
    with running_server(data, port, env=environment()):
        case = build_organisation(cli, invite, helper_form=MEDICAL, form_dir=tmp_path)
        assert case
        old_keys = Home.open(cli.root / "hana", PASSPHRASE).keys
        assert "new keys in place" in cli.ok("hana", "rotate-keys")
        assert "key directory verified" in cli.ok("hana", "sync")
        inbox = json.loads(cli.ok("hana", "inbox", "--json"))["cases"]  # the reply secret did not change
        assert [c["case_id"] for c in inbox] == [case]

        async def old_key_signs_in() -> int:
            async with aiohttp.ClientSession() as session:
                try:
                    await Api(url, session, keys=old_keys, principal="hana").call("GET", "/v1/directory")
                except ApiError as exc:
                    return exc.status
            return 200

        assert asyncio.run(old_key_signs_in()) == 401
        # a council member who knew hana's old key sees the rotation noted (it is signed by the old key) and reads on
        code, out, err = cli.run("kim", "cases", "show", case, "--json")
        assert code == 0 and "hana replaced their keys" in err
        assert json.loads(cli.ok("kim", "verify", "hana", "--json"))["rotated"] is True
        cli.ok("kim", "verify", "hana", "--accept")
        shown = json.loads(out)
        assert shown["author_verified"] is True  # signed with hana's earlier key, which the directory remembers


def test_an_interrupted_rotation_finishes_on_the_next_run(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "srv"
    port = free_port()
    invite = init_server(data, f"http://127.0.0.1:{port}")
    with running_server(data, port, env=environment()):
        cli.ok("admin", "join", invite, "--name", "admin")
        import client.rotation as account

        def crash(home: Home, keys: object) -> None:
            raise KeyboardInterrupt  # the server took the keys; the device stopped before recording them

        promote = account._promote
        monkeypatch.setattr(account, "_promote", crash)
        code, _, _ = cli.run("admin", "rotate-keys")
        assert code == 130
        monkeypatch.setattr(account, "_promote", promote)
        code, _, err = cli.run("admin", "whoami")
        assert code == 0
        code, _, err = cli.run("admin", "sync")
        assert code == 2 and "run `tessera rotate-keys`" in err
        assert "finished the interrupted key rotation" in cli.ok("admin", "rotate-keys")
        assert "key directory verified" in cli.ok("admin", "sync")
