"""audit verify: the audit chain, the server's checkpoints and the key directory, checked on this device."""

from __future__ import annotations

import argparse
from typing import Any

from client.session import Session
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
    seq, head, checkpoint = 0, bytes(32), None
    while True:
        answer = await api.call("GET", "/v1/audit", query={"after": seq, "limit": 5000})
        if not answer["entries"]:
            checkpoint = from_wire(Checkpoint, answer["checkpoint"])
            break
        seq, head = verify_entries(answer["entries"], head, seq)
        checkpoint = from_wire(Checkpoint, answer["checkpoint"])
        if checkpoint.seq <= seq:
            break
    if checkpoint is None or checkpoint.seq != seq or state.server_key is None:
        raise DirectoryError("the audit checkpoint does not match the entries served")
    verify_audit_checkpoint(checkpoint, state.server_key, head)
    print(f"audit log: {seq} entries, hash chain intact, head signed by the server.")
    print(f"key directory: {state.seq + 1} entries from your pinned head, signatures and checkpoint valid.")
    return 0
