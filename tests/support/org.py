"""An organisation built over HTTP with the real client code: admin, a 2-of-3 council, N helpers.
Used by e2e tests, the verification suite and the benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp

from client.api import Api
from client.ceremony import share_for, step_member
from client.enrol import join, make_invite
from keys.accounts import AccountKeys
from keys.council import EpochRecord
from keys.directory import DirectoryEntry, DirectoryState, replay_to_pin
from keys.envelope import IntakeEnvelope, new_case_id, seal_intake
from keys.group import Scalar
from keys.invites import Invite
from keys.wire import from_wire


@dataclass
class Person:
    name: str
    keys: AccountKeys
    api: Api
    secrets: dict[str, str] = field(default_factory=dict)

    def share(self, epoch: int) -> Scalar:
        share = share_for(self.secrets, epoch)
        assert share is not None
        return share


@dataclass
class Org:
    admin: Person
    council: list[Person]
    helpers: list[Person]
    state: DirectoryState

    @property
    def record(self) -> EpochRecord:
        assert self.state.council is not None
        return self.state.council

    def seal(self, helper: Person, case_file: bytes = b'{"kind":"food"}', identity: bytes = b"name") -> IntakeEnvelope:
        return seal_intake(
            case_id=new_case_id(),
            case_file=case_file,
            identity=identity,
            record=self.record,
            author=helper.name,
            author_keys=helper.keys,
            reply_secret=helper.keys.sign_seed,
            head_seq=self.state.seq,
            head_hash=self.state.head,
        )


async def build_org(base: str, session: aiohttp.ClientSession, invite: Invite, helpers: int) -> Org:
    anonymous = Api(base, session)
    admin_keys = AccountKeys.generate()
    await join(anonymous, invite, admin_keys, name=None, now=int(time.time()))
    admin = Person("admin", admin_keys, anonymous.as_principal("admin", admin_keys))

    async def enrol(name: str, role: str) -> Person:
        last = from_wire(DirectoryEntry, (await admin.api.call("GET", "/v1/directory"))["entries"][-1])
        inv = await make_invite(
            admin.api,
            admin_name="admin",
            admin_keys=admin_keys,
            account=name,
            role=role,
            today=int(time.time()) // 86400,
            head_seq=last.seq,
            head_hash=last.hash(),
        )
        keys = AccountKeys.generate()
        await join(anonymous, inv, keys, name=None, now=int(time.time()))
        return Person(name, keys, anonymous.as_principal(name, keys))

    council = [await enrol(f"member{i}", "council") for i in range(1, 4)]
    await admin.api.call("POST", "/v1/ceremonies", body={"v": 1, "threshold": 2, "members": [p.name for p in council]})
    for _ in range(8):
        results = [await step_member(p.api, p.keys, p.secrets) for p in council]
        if all(r.done for r in results):
            break
    people = [await enrol(f"helper{i}", "helper") for i in range(helpers)]
    entries = [from_wire(DirectoryEntry, e) for e in (await admin.api.call("GET", "/v1/directory"))["entries"]]
    return Org(admin, council, people, replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash()))
