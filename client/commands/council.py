"""council ceremony start / step / status."""

from __future__ import annotations

import argparse
from typing import Any

from client.ceremony import ceremony_step
from client.output import emit_json
from client.session import Session, UsageError


def register(sub: Any) -> None:
    council = sub.add_parser("council", help="the council's key ceremony").add_subparsers(dest="council_command", required=True)
    ceremony = council.add_parser("ceremony", help="create the council key together (no one ever holds all of it)")
    steps = ceremony.add_subparsers(dest="ceremony_command", required=True)
    p = steps.add_parser("start", help="administrator: open a ceremony for named council members")
    p.add_argument("--threshold", type=int, required=True, help="how many members must approve to reveal an identity")
    p.add_argument("--members", required=True, help="comma-separated account names, e.g. kim,lee,park")
    p.set_defaults(run=cmd_start)
    p = steps.add_parser("step", help="member: do what can be done now; repeat until done")
    p.set_defaults(run=cmd_step)
    p = steps.add_parser("status", help="where the ceremony stands")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_status)


async def cmd_start(session: Session, args: argparse.Namespace) -> int:
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    home = session.open_home()
    if home.role != "admin":
        raise UsageError("only an administrator opens a ceremony")
    answer = await session.api(home).call(
        "POST", "/v1/ceremonies", body={"v": 1, "threshold": args.threshold, "members": members}
    )
    print(f"ceremony opened for {', '.join(members)} (threshold {args.threshold}, epoch {answer['params']['epoch']}).")
    print("Each member now runs `tessera council ceremony step` until it says done.")
    return 0


async def cmd_step(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError("only council members take part in the ceremony")
    api = session.api(home)
    await session.directory(home, api)
    result = await ceremony_step(api, home.keys, home.section("ceremony"))
    home.save()
    for action in result.actions:
        print(action)
    if result.done:
        print("done: the council key exists and is in the key directory.")
    else:
        print(f"waiting for {result.waiting_for}; run this step again later.")
    return 0


async def cmd_status(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    status = await session.api(home).call("GET", "/v1/ceremonies/current")
    if args.json:
        emit_json(status)
    else:
        params = status["params"]
        print(
            f"ceremony {status['ceremony_id']}: {status['state']}, threshold {params['threshold']}, "
            f"members {', '.join(p['account'] for p in params['participants'])}"
        )
        print(
            "messages: " + ", ".join(f"{k} {v}" for k, v in sorted(status["messages"].items()))
            if status["messages"]
            else "no messages yet"
        )
    return 0
