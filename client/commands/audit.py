"""audit verify: the audit chain, the server's checkpoints and the key directory, checked on this device."""

from __future__ import annotations

import argparse
from typing import Any

from client.session import Session
from client.terminal import say
from keys.audit import verify_entries
from keys.checkpoints import Checkpoint, verify_audit_checkpoint
from keys.errors import DirectoryError
from keys.wire import from_wire


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="check the audit log").add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser("verify", help="verify the audit chain, its signed checkpoint and the key directory")
    p.set_defaults(run=cmd_verify)


async def cmd_verify(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    state = await session.directory(home, api)  # chain from the pinned head + the directory checkpoint
    if state.server_key is None:
        raise DirectoryError("the key directory names no server key")
    seq, head, retried = 0, bytes(32), False
    while True:  # page by page; each page's checkpoint is the server's signature on its last entry
        answer = await api.call("GET", "/v1/audit", query={"after": seq, "limit": 5000})
        checkpoint = from_wire(Checkpoint, answer["checkpoint"])
        if not answer["entries"]:
            if checkpoint.seq > seq and not retried:  # an entry was appended while we read: once more
                retried = True
                continue
            if checkpoint.seq != seq:
                raise DirectoryError("the audit log's signed head is not where its entries end: entries were withheld")
            verify_audit_checkpoint(checkpoint, state.server_key, head)
            break
        seq, head = verify_entries(answer["entries"], head, seq)
        if checkpoint.seq != seq:
            raise DirectoryError("the audit checkpoint does not match the entries served")
        verify_audit_checkpoint(checkpoint, state.server_key, head)
    say(f"audit log: {seq} entries, hash chain intact, head signed by the server.")
    say(f"key directory: {state.seq + 1} entries from your pinned head, signatures and checkpoint valid.")
    return 0
