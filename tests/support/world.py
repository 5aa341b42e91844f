"""A real server in-process (create_app on a temporary SQLite file, or PostgreSQL when TESSERA_TEST_PG_URL
answers) with people who talk to it through the real client code (`World`, `Member`); the PostgreSQL databases
tests create and drop. Its fixtures are in tests/server/conftest.py."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field

from aiohttp.test_utils import TestClient

from client.api import Api
from client.ceremony import step_member
from client.directory import fetch_from_genesis
from client.enrol import join, make_invite
from keys.accounts import AccountKeys
from keys.council import EpochRecord
from keys.directory import DirectoryEntry, replay_to_pin
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, new_case_id, seal_intake
from keys.invites import Invite
from keys.wire import from_wire, to_wire

PG_URL = os.environ.get("TESSERA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class FakeClock:
    """Starts at the real time (init used the real clock) and moves only when a test says so."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pg_available() -> str | None:
    """Create a fresh database on the PostgreSQL server; None (and a reason) when none answers."""
    try:
        import asyncpg
    except ImportError:
        return None

    async def make() -> str:
        conn = await asyncpg.connect(PG_URL.replace("postgresql://", "postgres://"), timeout=3)
        name = f"tessera_test_{uuid.uuid4().hex[:12]}"
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        base = PG_URL.rsplit("/", 1)[0]
        return f"{base}/{name}"

    try:
        return asyncio.run(make())
    except (TimeoutError, OSError, Exception):
        return None


def drop_pg(url: str) -> None:
    import asyncpg

    async def drop() -> None:
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(PG_URL.replace("postgresql://", "postgres://"), timeout=3)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(drop())


@dataclass
class Member:
    name: str
    keys: AccountKeys
    api: Api
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    client: TestClient
    clock: FakeClock
    first_invite: str
    members: dict[str, Member] = field(default_factory=dict)

    def anonymous(self) -> Api:
        return Api(str(self.client.make_url("")), self.client.session, clock=self.clock)

    async def join(self, invite: Invite, name: str) -> Member:
        keys = AccountKeys.generate()
        grant, _ = await join(self.anonymous(), invite, keys, name=None, now=int(self.clock()))
        assert grant.account == name
        member = Member(
            name, keys, Api(str(self.client.make_url("")), self.client.session, keys=keys, principal=name, clock=self.clock)
        )
        self.members[name] = member
        return member

    async def admin(self) -> Member:
        if "admin" not in self.members:
            await self.join(Invite.decode(self.first_invite), "admin")
        return self.members["admin"]

    async def head(self) -> tuple[int, bytes]:
        admin = await self.admin()
        answer = await admin.api.call("GET", "/v1/directory")
        last = from_wire(DirectoryEntry, answer["entries"][-1])
        return last.seq, from_wire(DirectoryEntry, answer["entries"][-1]).hash()

    async def server_key(self) -> bytes:
        """The server key of the key directory, verified from its first entry (it signs receipts)."""
        admin = await self.admin()
        state = await fetch_from_genesis(admin.api, now=int(self.clock()))
        assert state.server_key is not None
        return state.server_key

    async def invite(self, name: str, role: str) -> Invite:
        admin = await self.admin()
        seq, head = await self.head()
        return await make_invite(
            admin.api,
            admin_name="admin",
            admin_keys=admin.keys,
            account=name,
            role=role,
            today=int(self.clock() // 86400),
            head_seq=seq,
            head_hash=head,
        )

    async def enrol(self, name: str, role: str) -> Member:
        return await self.join(await self.invite(name, role), name)

    async def council(self, names: list[str], threshold: int) -> list[Member]:
        members = [await self.enrol(n, "council") for n in names]
        admin = await self.admin()
        await admin.api.call("POST", "/v1/ceremonies", body={"v": 1, "threshold": threshold, "members": names})
        for _ in range(8):
            results = [await step_member(m.api, m.keys, m.secrets) for m in members]
            if all(r.done for r in results):
                return members
        raise AssertionError(f"ceremony did not finish: {[r.waiting_for for r in results]}")


async def council_record(api: Api) -> tuple[EpochRecord, int, bytes]:
    """The council record as a client verifies it (replayed from genesis), with the head it saw."""
    answer = await api.call("GET", "/v1/directory")
    entries = [from_wire(DirectoryEntry, e) for e in answer["entries"]]
    state = replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash())
    assert state.council is not None
    return state.council, state.seq, state.head


def sealed_intake(
    helper: Member,
    record: EpochRecord,
    seq: int,
    head: bytes,
    *,
    case_file: bytes = b"{}",
    identity: bytes = b"x",
    reply_secret: bytes = b"\x01" * 32,
) -> IntakeEnvelope:
    """An intake sealed on the helper's side to `record`, with the directory head (`seq`, `head`) she saw."""
    return seal_intake(
        case_id=new_case_id(),
        case_file=case_file,
        identity=identity,
        record=record,
        author=helper.name,
        author_keys=helper.keys,
        reply_secret=reply_secret,
        head_seq=seq,
        head_hash=head,
    )


async def submit_intake(
    helper: Member, *, case_file: bytes = b"{}", identity: bytes = b"x", reply_secret: bytes = b"\x01" * 32
) -> IntakeEnvelope:
    """Seal an intake on the helper's side and upload it."""
    record, seq, head = await council_record(helper.api)
    envelope = sealed_intake(helper, record, seq, head, case_file=case_file, identity=identity, reply_secret=reply_secret)
    await helper.api.call("PUT", f"/v1/cases/{b64u_encode(envelope.case_id)}", body=to_wire(envelope))
    return envelope
