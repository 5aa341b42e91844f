"""Creating the organisation at `init`: the directory's genesis entry (the server key) and the first
administrator's invite."""

from __future__ import annotations

from sqlalchemy import select

from keys.directory import payload_for
from keys.invites import Invite
from server.errors import ConflictError
from server.services import audit
from server.services.accounts import create_first_admin_invite
from server.services.context import Services
from server.services.directory import append_entry
from server.storage.db import read_chain
from server.storage.models import DirectoryRow


async def create_organisation(services: Services, *, server_url: str, admin_name: str) -> Invite:
    """Genesis entry, audit entry, first invite. Refuses an existing organisation."""
    async with services.db.write() as session:
        if (await session.execute(select(DirectoryRow.seq).limit(1))).first() is not None:
            raise ConflictError("this database holds an organisation already; refusing to overwrite it")
        payload = payload_for("server-key", server_key=services.server_keys.public().sign_key)
        await append_entry(session, kind="server-key", payload=payload, day=services.today(), signers=[services.server_keys])
        await audit.append(session, day=services.today(), actor="server", action="organisation.created")
    issued = await create_first_admin_invite(services, admin_name)
    async with services.db.read() as session:
        head = await read_chain(session, "directory")
    return Invite(
        v=1, server=server_url, invite_id=issued.invite_id, secret=issued.secret, head_seq=head.seq, head_hash=head.head
    )
