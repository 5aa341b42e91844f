"""Server signing-key rotation (issue 5, item 5): the new key is announced in the key directory, signed by
the old key and the new one; checkpoints made before stay verifiable under the key in force at their
sequence number. The new key is written next to the old one first, so an interrupted rotation is finished
at the next start (`reconcile_server_key`)."""

from __future__ import annotations

import os
from pathlib import Path

from keys.accounts import AccountKeys
from keys.directory import DirectoryState, payload_for
from privatefiles import write_private_file
from server.errors import ConfigError
from server.services import audit
from server.services.context import Services
from server.services.directory import append_entry

NEW_SUFFIX = ".new"


def pending_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + NEW_SUFFIX)


def save_keys(path: Path, keys: AccountKeys) -> None:
    write_private_file(path, keys.sign_seed + keys.box_secret)


async def rotate_server_key(services: Services, new: AccountKeys) -> int:
    """Append the server-key entry signed by the old and the new key; returns its sequence number."""
    payload = payload_for("server-key", server_key=new.public().sign_key)
    async with services.db.write() as session:
        entry, _ = await append_entry(
            session, kind="server-key", payload=payload, day=services.today(), signers=[services.server_keys, new]
        )
        await audit.append(
            session, day=services.today(), actor="server", action="server.key_rotated", detail={"directory_seq": entry.seq}
        )
    return entry.seq


def reconcile_server_key(key_path: Path, keys: AccountKeys, state: DirectoryState) -> AccountKeys:
    """The key this server must sign with: the directory's current server key. Finishes an interrupted
    rotation (the new key is in `server.key.new`); refuses to start on any other mismatch."""
    current = state.server_key
    if current is None or keys.public().sign_key == current:
        return keys
    pending = pending_path(key_path)
    if pending.exists():
        data = pending.read_bytes()
        candidate = AccountKeys(sign_seed=data[:32], box_secret=data[32:])
        if candidate.public().sign_key == current:
            os.replace(pending, key_path)
            return candidate
    raise ConfigError(
        f"{key_path} is not the server key the key directory names: restore the right server.key "
        "(clients would refuse every checkpoint signed with another key)"
    )
