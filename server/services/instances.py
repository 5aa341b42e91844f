"""Server-process heartbeats, so a schema migration never runs under a live server of another version."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from server.storage.db import Database
from server.storage.models import ServerInstance

ALIVE_WINDOW = 150  # seconds without a heartbeat after which an instance counts as gone


class Instance:
    def __init__(self, db: Database, revision: str) -> None:
        self.db = db
        self.revision = revision
        self.instance_id = secrets.token_hex(8)

    async def register(self, now: int) -> None:
        async with self.db.write(lock_audit=False) as session:
            await session.execute(
                insert(ServerInstance).values(instance_id=self.instance_id, revision=self.revision, heartbeat=now)
            )

    async def beat(self, now: int) -> None:
        async with self.db.write(lock_audit=False) as session:
            await session.execute(
                update(ServerInstance).where(ServerInstance.instance_id == self.instance_id).values(heartbeat=now)
            )

    async def unregister(self) -> None:
        async with self.db.write(lock_audit=False) as session:
            await session.execute(delete(ServerInstance).where(ServerInstance.instance_id == self.instance_id))


async def live_revisions(db: Database, now: int) -> list[str]:
    """Schema revisions served by live server processes (none known before revision 0002)."""
    try:
        async with db.read() as session:
            rows = (
                await session.execute(select(ServerInstance.revision).where(ServerInstance.heartbeat > now - ALIVE_WINDOW))
            ).all()
    except DBAPIError:
        return []  # the table does not exist yet
    return [r.revision for r in rows]
