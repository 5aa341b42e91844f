"""cases list / cases show: triage. The case file only; identities stay sealed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from client.attachments import check_listing, describe_all, list_attachments
from client.casefiles import open_case
from client.commands.attachments import register_cases
from client.session import Session, UsageError
from client.terminal import clean, emit_json, say, table
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


def describe_decision(d: dict[str, Any]) -> str:
    """One line for a decision, from what its signatures say (read_decision)."""
    if d["problem"] is not None and d["action"] is None:
        return f"decision {d['proposal_id']}: NOT VERIFIED, not shown: {d['problem']}"
    votes = ", ".join(f"{v['account']} {'yes' if v['approve'] else 'no'}" for v in d["votes"]) or "no valid votes"
    line = f"decision {d['proposal_id']}: {d['action']} ({d['state']}, {d['yes_votes_verified']} of {d['needed']} yes needed)"
    line += f" by {d['proposer']}: {d['note']} [{votes}]"
    if d["problem"] is not None:
        line += f" NOT VERIFIED: {d['problem']}"
    elif d["server_state"] != d["state"]:
        line += f" (the server says {d['server_state']}; the signed votes say {d['state']})"
    return line


async def cmd_show(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError("only council members read case files")
    api = session.api(home)
    state = await session.directory(home, api)
    case = await open_case(api, home, args.case, state)
    summary = case.summary()
    checked = check_listing(case.case_id, case.signed, case.envelope.reply_sign_key, await list_attachments(api, case.case_id))
    files = describe_all(
        checked.rows,
        case_id=case.case_id,
        openers=[Opener.for_case(case.case_id, case.case_key)],
        reply_sign_key=case.envelope.reply_sign_key,
    )
    summary["attachments"] = [{k: f.get(k) for k in ("attachment_id", "kind", "name", "size", "complete")} for f in files]
    summary["attachment_warnings"] = checked.warnings()
    if args.json:
        emit_json(summary)
        return 0
    say(f"case {summary['case_id']}: {summary['kind']}, {summary['state']}, day {summary['day']}", one_line=True)
    revoked = " (the account was revoked since)" if summary["author_revoked"] else ""
    say(f"submitted by {summary['submitted_by']} (signature checked){revoked}", one_line=True)
    for name, value in summary["case_file"].items():
        say(f"  {clean(name, one_line=True)}: {clean(value)}")
    for f in summary["attachments"]:
        what = f"{f['name']} ({f['size']} bytes)" if f["kind"] == "case" else "sealed with the identity (opens after a reveal)"
        say(f"attachment {f['attachment_id']}: {what}{'' if f['complete'] else ', still uploading'}", one_line=True)
    for warning in summary["attachment_warnings"]:
        print(f"warning: {clean(warning)}", file=sys.stderr)
    for d in summary["decisions"]:
        say(describe_decision(d))
    return 0
