"""Checking the audit log on this device: every entry's hash chain and the server's signed checkpoint of each
page, under the server key of the verified key directory. What `tessera audit verify` does inline today
(client/commands/audit.py), for the app's server page; the CLI should call this once issue 26 lands."""

from __future__ import annotations

from client.api import Api
from keys.audit import verify_entries
from keys.checkpoints import Checkpoint, verify_audit_checkpoint
from keys.directory import DirectoryState
from keys.errors import DirectoryError
from keys.wire import from_wire

PAGE = 5000


async def verify_audit(api: Api, state: DirectoryState) -> int:
    """The number of audit entries, all chained and under a checkpoint the server signed. Raises DirectoryError
    (entries withheld, a checkpoint that does not match) or ProofError (a bad signature or link)."""
    if state.server_key is None:
        raise DirectoryError("the key directory names no server key")
    seq, head, retried = 0, bytes(32), False
    for _page in range(100_000):  # bounded
        answer = await api.audit(after=seq, limit=PAGE)
        checkpoint = from_wire(Checkpoint, answer["checkpoint"])
        if not answer["entries"]:
            if checkpoint.seq > seq and not retried:  # an entry was appended while we read: once more
                retried = True
                continue
            if checkpoint.seq != seq:
                raise DirectoryError("the audit log's signed head is not where its entries end: entries were withheld")
            verify_audit_checkpoint(checkpoint, state.server_key, head)
            return seq
        seq, head = verify_entries(answer["entries"], head, seq)
        if checkpoint.seq != seq:
            raise DirectoryError("the audit checkpoint does not match the entries served")
        verify_audit_checkpoint(checkpoint, state.server_key, head)
    raise DirectoryError("the audit log does not end")
