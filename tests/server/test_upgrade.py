"""A database made by an earlier schema revision, with an organisation in it, upgrades; `migrate`
refuses while a server of another revision is running."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from sqlalchemy import insert, text

from client.api import Api
from client.enrol import join
from keys.accounts import AccountKeys
from keys.invites import Invite
from privatefiles import write_private_file
from server.app import create_app, load_server_keys
from server.config import default_db_url, load_config, write_template
from server.main import main as server_main
from server.services.context import Services
from server.services.setup import create_organisation
from server.storage.db import Database
from server.storage.migrate import head_revision, upgrade
from server.storage.models import ServerInstance


def make_old_organisation(data: Path) -> str:
    data.mkdir(mode=0o700)
    write_template(data, default_db_url(data))
    write_private_file(data / "server.key", os.urandom(64))
    config = load_config(data)
    upgrade(config.db_url, "0001")

    async def bootstrap() -> str:
        db = Database(config.db_url)
        try:
            services = Services(config=config, db=db, server_keys=load_server_keys(config.key_path))
            return (await create_organisation(services, server_url="http://old.test", admin_name="admin")).encode()
        finally:
            await db.close()

    return asyncio.run(bootstrap())


def revision(data: Path) -> str:
    async def read() -> str:
        db = Database(load_config(data).db_url)
        try:
            async with db.read() as session:
                return str((await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one())
        finally:
            await db.close()

    return asyncio.run(read())


def test_an_old_database_with_data_upgrades(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "old"
    invite = make_old_organisation(data)
    assert revision(data) == "0001"
    assert server_main(["migrate", "--data", str(data)]) == 0
    assert revision(data) == head_revision() != "0001"
    assert "up to date" in capsys.readouterr().out

    async def use() -> None:
        from aiohttp.test_utils import TestClient, TestServer

        async with TestClient(TestServer(create_app(load_config(data)))) as client:
            api = Api(str(client.make_url("")), client.session)
            # the invite made before the upgrade works
            await join(api, Invite.decode(invite), AccountKeys.generate(), name=None, now=int(time.time()))

    asyncio.run(use())


def test_migrate_refuses_under_a_running_server_of_another_revision(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "old"
    make_old_organisation(data)
    assert server_main(["migrate", "--data", str(data)]) == 0

    async def pretend_running(rev: str, heartbeat: int) -> None:
        db = Database(load_config(data).db_url)
        try:
            async with db.write(lock_audit=False) as session:
                await session.execute(
                    insert(ServerInstance).values(instance_id=rev + str(heartbeat), revision=rev, heartbeat=heartbeat)
                )
        finally:
            await db.close()

    capsys.readouterr()
    asyncio.run(pretend_running("0001", int(time.time())))
    assert server_main(["migrate", "--data", str(data)]) == 2
    assert "stop them first" in capsys.readouterr().err
    assert server_main(["migrate", "--data", str(data), "--force"]) == 0
