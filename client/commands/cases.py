"""cases list / cases show: triage. The case file only; identities stay sealed."""

from __future__ import annotations

import argparse
from typing import Any

from client.attachments import describe_all, list_attachments
from client.casefiles import open_as_member
from client.commands.attachments import register_cases
from client.output import emit_json, table
from client.session import Session, UsageError
from keys.attachments import Opener


def register(sub: Any) -> None:
    cases = sub.add_parser("cases", help="council members: list and read cases").add_subparsers(
        dest="cases_command", required=True
    )
    p = cases.add_parser("list", help="cases, newest states first")
    p.add_argument("--state", choices=("open", "decided", "closed"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)
    p = cases.add_parser("show", help="one case: its case file, state and decisions (never the identity)")
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_show)
    register_cases(cases)


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError("only council members list cases; helpers see their own with `tessera inbox`")
    api = session.api(home)
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await api.call("GET", "/v1/cases", query={"state": args.state, "cursor": cursor, "limit": 200})
        rows += page["cases"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if args.json:
        emit_json({"cases": rows})
    else:
        table([(r["case_id"], r["state"], r["day"]) for r in rows], ("case", "state", "day"))
    return 0


async def cmd_show(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError("only council members read case files")
    api = session.api(home)
    state = await session.directory(home, api)
    case = await open_as_member(api, home, args.case)
    author = state.accounts.get(case.signed.author)
    assert state.council is not None
    summary = case.summary(state.council)
    summary["author_verified"] = author is not None and author.signed_with(case.signed.author_sign_key)
    files = describe_all(
        await list_attachments(api, case.case_id),
        case_id=case.case_id,
        openers=[Opener.for_case(case.case_id, case.case_key)],
        reply_sign_key=case.envelope.reply_sign_key,
    )
    summary["attachments"] = [{k: f.get(k) for k in ("attachment_id", "kind", "name", "size", "complete")} for f in files]
    if args.json:
        emit_json(summary)
        return 0
    print(f"case {summary['case_id']}: {summary['kind']}, {summary['state']}, day {summary['day']}")
    print(f"submitted by {summary['submitted_by']} ({'signature checked' if summary['author_verified'] else 'UNKNOWN SIGNER'})")
    for name, value in summary["case_file"].items():
        print(f"  {name}: {value}")
    for f in summary["attachments"]:
        what = f"{f['name']} ({f['size']} bytes)" if f["kind"] == "case" else "sealed with the identity (opens after a reveal)"
        print(f"attachment {f['attachment_id']}: {what}{'' if f['complete'] else ', still uploading'}")
    for d in summary["decisions"]:
        votes = ", ".join(f"{v['account']} {'yes' if v['approve'] else 'no'}" for v in d["votes"]) or "no votes"
        print(f"decision {d['proposal_id']}: {d['action']} ({d['state']}) by {d['proposer']}: {d['note']} [{votes}]")
    return 0
