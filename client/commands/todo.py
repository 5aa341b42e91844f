"""todo: what waits for me (approvals, votes, ceremony steps, new messages, key changes, the outbox)."""

from __future__ import annotations

import argparse
from typing import Any

from client.agenda import todo
from client.i18n import _
from client.output import progress_done, progress_line
from client.session import Session
from client.terminal import emit_json, say


def register(sub: Any) -> None:
    p = sub.add_parser(
        "todo",
        help=_("what waits for you: approvals, votes, ceremony steps, new messages, key changes, your outbox"),
        description=_(
            "Everything here is computed on this device from what it verified (signed votes, opened messages, "
            "the verified key directory); where only the server can say something, the line says so."
        ),
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_todo)


def _progress(done: int, total: int | None) -> None:
    if total is None:
        progress_line(_("reading cases: {done}", done=done))
    else:
        progress_line(_("reading cases: {done} of {total}", done=done, total=total))


async def cmd_todo(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    state = await session.directory(home, api)
    outbox = (sum(1 for _item in home.outbox()), sum(1 for _upload in home.pending_uploads()))
    agenda = await todo(api, home, state, outbox=outbox, on_progress=_progress)
    progress_done()
    if args.json:
        emit_json({"items": [i.to_json() for i in agenda.items]})
        return 0
    if not agenda.items:
        print(_("nothing waits for you."))

        return 0
    for item in agenda.items:
        say(f"- {item.shown(_)}", one_line=True)

        if item.command:
            say(f"    {item.command}", one_line=True)
    return 0
