"""The key directory on the server: append entries that pass the same rules clients apply, serve them,
and keep the accounts table (used to authenticate requests) in step with the directory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select

from keys.council import EpochSignature
from keys.directory import DirectoryEntry, DirectoryState, apply_entries, apply_entry, make_entry
from keys.errors import DirectoryError
from keys.wire import decode_json, encode_json
from server.errors import BadRequestError, DirectoryMovedError
from server.storage.db import DbSession, advance_chain, lock_chain, read_chain
from server.storage.models import AccountRow, DirectoryRow


class DirectoryCache:
    """Per-process cache of the replayed directory, keyed by the head's sequence number in the database.

    Every lookup reads the head row first, so a change made by another server process is seen at once.
    """

    def __init__(self) -> None:
        self._state: DirectoryState | None = None

    async def state(self, session: DbSession) -> DirectoryState:
        head = await read_chain(session, "directory")
        if self._state is None or self._state.seq != head.seq or self._state.head != head.head:
            self._state = await replay(session)
        return self._state


async def load_entries(session: DbSession, after: int = -1, limit: int | None = None) -> list[DirectoryEntry]:
    query = select(DirectoryRow).where(DirectoryRow.seq > after).order_by(DirectoryRow.seq)
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).scalars().all()
    return [decode_json(DirectoryEntry, row.body.encode()) for row in rows]


async def replay(session: DbSession) -> DirectoryState:
    return apply_entries(DirectoryState(), await load_entries(session))


async def append_entry(
    session: DbSession,
    *,
    kind: str,
    payload: Mapping[str, Any],
    day: int,
    signatures: Iterable[EpochSignature] = (),
    signers: Sequence[Any] = (),
    at: tuple[int, bytes, int] | None = None,
) -> tuple[DirectoryEntry, DirectoryState]:
    """Append an entry after checking it against the replayed chain; raises BadRequestError naming the rule.

    `signatures` were made for position `at` (seq, previous head, the signers' day); if the directory has moved
    since, raises DirectoryMovedError so the signer fetches it again and signs anew; a signed day more than a
    day from the server's `day` is refused (a device's clock is off). `signers` sign here, at the head, today."""
    head = await lock_chain(session, "directory")
    state = await replay(session)
    if at is not None:
        if at[0] != state.seq + 1 or at[1] != state.head:
            raise DirectoryMovedError(
                f"the key directory has entry {state.seq} now, later than the one you signed after: fetch it and sign again"
            )
        if abs(at[2] - day) > 1:
            raise BadRequestError(f"signed for day {at[2]}, the server's date is day {day}: check your device's date")
        day = at[2]
    entry = make_entry(
        seq=state.seq + 1, prev=state.head, kind=kind, payload=payload, day=day, signatures=signatures, signers=signers
    )
    try:
        new_state = apply_entry(state, entry)
    except DirectoryError as exc:
        raise BadRequestError(str(exc)) from exc
    session.add(DirectoryRow(seq=entry.seq, hash=new_state.head, body=encode_json(entry).decode()))
    await advance_chain(session, head, new_state.seq, new_state.head)
    await _sync_accounts(session, new_state)
    return entry, new_state


async def _sync_accounts(session: DbSession, state: DirectoryState) -> None:
    rows = {r.account: r for r in (await session.execute(select(AccountRow))).scalars().all()}
    for name, acct in state.accounts.items():
        row = rows.get(name)
        if row is None:
            session.add(
                AccountRow(
                    account=name, role=acct.role, sign_key=acct.keys.sign_key, box_key=acct.keys.box_key, revoked=acct.revoked
                )
            )
        else:
            row.role, row.sign_key, row.box_key, row.revoked = acct.role, acct.keys.sign_key, acct.keys.box_key, acct.revoked
