"""cases list / cases show: triage for the council, and a helper's view of her own cases. The case file only;
identities stay sealed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from client.agenda import mark_outcomes_seen
from client.attachments import check_listing, describe_all, list_attachments
from client.casefiles import open_case
from client.commands.attachments import register_cases
from client.i18n import _, pgettext
from client.output import progress_done, progress_line
from client.session import Session, UsageError
from client.terminal import clean, emit_json, say, table
from client.threads import describe_addendum, open_thread
from client.triage import (
    FORK,
    Filters,
    council_cases,
    date_text,
    fold,
    helper_cases,
    parse_date,
    scan_addenda,
    sort_cases,
    split_option,
)
from keys.attachments import Opener


def register(sub: Any) -> None:
    cases = sub.add_parser("cases", help=_("list and read cases (council: all; helpers: your own)")).add_subparsers(
        dest="cases_command", required=True
    )
    p = cases.add_parser(
        "list",
        help=_("cases with kind, urgency, region and date, most urgent first; filters and search run on this device"),
        description=_(
            "Every case you can read, opened and checked on this device: kind, urgency, region, the date the "
            "server stored it, its state and its decisions (counted from signed votes). Council members see every "
            "case; helpers see their own (sent and still in the outbox). Filters take comma-separated values."
        ),
    )
    p.add_argument("--state", help=_("open, decided or closed (comma-separated for several)"))
    p.add_argument("--kind", help=_("e.g. medical or medical,food"))
    p.add_argument("--urgency", help=_("e.g. high,critical"))
    p.add_argument("--region", help=_("e.g. Jilin"))
    p.add_argument("--since", metavar="YYYY-MM-DD", help=_("stored on or after this date"))
    p.add_argument("--until", metavar="YYYY-MM-DD", help=_("stored on or before this date"))
    p.add_argument("--search", metavar="TEXT", help=_("cases whose case file (or, for helpers, messages) contains TEXT"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)
    p = cases.add_parser("show", help=_("one case: its case file, state, decisions and addenda (never the identity)"))
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_show)
    register_cases(cases)


def filters_from(args: argparse.Namespace) -> Filters:
    try:
        since = parse_date(args.since, option="--since") if args.since else None
        until = parse_date(args.until, option="--until") if args.until else None
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    states = split_option(args.state)
    unknown = [s for s in states if s not in ("open", "decided", "closed", "outbox", "missing")]
    if unknown:
        raise UsageError(_("--state takes open, decided or closed (not {values})", values=", ".join(unknown)))
    return Filters(
        kinds=split_option(args.kind),
        urgencies=split_option(args.urgency),
        regions=split_option(args.region),
        states=states,
        since=since,
        until=until,
        search=fold(args.search) if args.search else None,
    )


def _progress(done: int, total: int | None) -> None:
    if total is None:
        progress_line(_("opening cases: {done}", done=done))
    else:
        progress_line(_("opening cases: {done} of {total}", done=done, total=total))


def _waiting(seconds: int) -> None:
    print(_("the server's request budget for this minute is spent: waiting {seconds} s", seconds=seconds), file=sys.stderr)


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    filters = filters_from(args)
    home = session.open_home()
    api = session.api(home)
    state = await session.directory(home, api)
    if home.role == "council":
        server_state = filters.states[0] if len(filters.states) == 1 else None  # one state: the server filters
        views = await council_cases(api, home, state, server_state=server_state, on_progress=_progress, on_wait=_waiting)
    elif home.role == "helper":
        views = await helper_cases(api, home, state, on_progress=_progress)
    else:
        raise UsageError(_("cases are read by council members and by the helpers who sent them"))
    if home.role == "council":
        await scan_addenda(api, home, state, views)
    progress_done()
    kept = sort_cases(v for v in views if filters.keeps(v))
    if args.json:
        emit_json({"cases": [v.to_json() for v in kept], "total": len(views)})
        return 0
    rows = []
    for v in kept:
        if v.problem is not None:
            rows.append((v.case_id, v.date, "?", "?", "?", v.state, v.problem))
            continue
        notes = []
        if v.withdrawal_asked:
            notes.append(_("WITHDRAWAL ASKED"))
        if v.amendments:
            notes.append(_("amended ({count})", count=v.amendments))
        if v.decision_summary() != "-":
            notes.append(v.decision_summary())
        if home.role == "helper" and v.messages:
            notes.append(_("{count} message(s)", count=len(v.messages)))
        elif v.message_count:
            notes.append(_("{count} message(s)", count=v.message_count))
        rows.append((v.case_id, v.date, v.kind or "?", v.urgency, v.region, v.state, "; ".join(notes) or "-"))
    headers = (pgettext("column", "case"), _("date"), _("kind"), _("urgency"), _("region"), _("state"), _("decisions, notes"))
    table(rows, headers)
    hidden = len(views) - len(kept)
    if hidden:
        print(
            _(
                "({shown} of {count} case(s) shown; the filters left out {hidden})",
                shown=len(kept),
                count=len(views),
                hidden=hidden,
            )
        )
    problems = [v for v in views if v.problem is not None]
    if problems:
        warning = _("warning: {count} case(s) did not open or verify; they are listed with why.", count=len(problems))
        print(warning, file=sys.stderr)

    if any(FORK in str(v.problem) for v in problems):
        print(
            _(
                "warning: the server showed some people another key directory (a FORK). Do not seal or approve "
                "anything; tell your council."
            ),
            file=sys.stderr,
        )
    return 0


def describe_decision(d: dict[str, Any]) -> str:
    """One line for a decision, from what its signatures say (read_decision)."""
    if d["problem"] is not None and d["action"] is None:
        return _("decision {proposal}: NOT VERIFIED, not shown: {problem}", proposal=d["proposal_id"], problem=d["problem"])
    ballot = {True: pgettext("vote", "yes"), False: pgettext("vote", "no")}
    votes = ", ".join(f"{v['account']} {ballot[bool(v['approve'])]}" for v in d["votes"]) or _("no valid votes")

    line = _(
        "decision {proposal}: {action} ({state}, {yes} of {needed} yes needed) by {proposer}: {note} [{votes}]",
        proposal=d["proposal_id"],
        action=d["action"],
        state=d["state"],
        yes=d["yes_votes_verified"],
        needed=d["needed"],
        proposer=d["proposer"],
        note=d["note"],
        votes=votes,
    )
    if d["problem"] is not None:
        line += " " + _("NOT VERIFIED: {problem}", problem=d["problem"])
    elif d["server_state"] != d["state"]:
        line += " " + _("(the server says {server}; the signed votes say {state})", server=d["server_state"], state=d["state"])
    return line



async def cmd_show(session: Session, args: argparse.Namespace) -> int:
    """One case through the checked opener: a council member's with their key wrap, a helper's own through its
    reply key (she reads the case file she wrote, the decisions adopted on it and her addenda)."""
    home = session.open_home()
    if home.role not in ("council", "helper"):
        raise UsageError(_("cases are read by council members and by the helper who sent them"))
    api = session.api(home)
    state = await session.directory(home, api)
    case = await open_case(api, home, args.case, state)
    summary = case.summary()
    receipt_day = home.section("receipts").get(case.text_id, {}).get("day") if home.role == "helper" else None
    summary["date"] = date_text(receipt_day if receipt_day is not None else summary["day"])
    checked = check_listing(
        case.case_id, case.signed, case.envelope.reply_sign_key, await list_attachments(case.api, case.case_id)
    )
    files = describe_all(
        checked.rows,
        case_id=case.case_id,
        openers=[Opener.for_case(case.case_id, case.case_key)],
        reply_sign_key=case.envelope.reply_sign_key,
    )
    summary["attachments"] = [{k: f.get(k) for k in ("attachment_id", "kind", "name", "size", "complete")} for f in files]
    summary["attachment_warnings"] = checked.warnings()
    thread = await case.api.messages(case.case_id)
    messages = open_thread(thread.get("messages") if isinstance(thread, dict) else None, case, state)
    summary["addenda"] = [{"date": date_text(m["day"]), **m["addendum"]} for m in messages if m["addendum"]]
    summary["messages"] = len(messages)
    if home.role == "helper":
        mark_outcomes_seen(home, summary["decisions"])
    if args.json:
        emit_json(summary)
        return 0
    say(
        _(
            "case {case}: {kind}, {state}, stored {date}",
            case=summary["case_id"],
            kind=summary["kind"],
            state=summary["state"],
            date=summary["date"],
        ),
        one_line=True,
    )
    if home.role == "helper":
        submitted = _("submitted by you (signature checked)")
    else:
        submitted = _("submitted by {name} (signature checked)", name=summary["submitted_by"])
    if summary["author_revoked"]:
        submitted += " " + _("(the account was revoked since)")
    say(submitted, one_line=True)
    for name, value in summary["case_file"].items():
        say(f"  {clean(name, one_line=True)}: {clean(value)}")
    for a in summary["addenda"]:
        say(_("addendum of {date}: {addendum}", date=a["date"], addendum=describe_addendum(a)))
    for f in summary["attachments"]:
        if f["kind"] == "case":
            what = _("{name} ({size} bytes)", name=f["name"], size=f["size"])
        else:
            what = _("sealed with the identity (opens after a reveal)")
        if not f["complete"]:
            what = _("{what}, still uploading", what=what)
        say(_("attachment {id}: {what}", id=f["attachment_id"], what=what), one_line=True)
    for warning in summary["attachment_warnings"]:
        print(_("warning: {problem}", problem=clean(warning)), file=sys.stderr)
    for d in summary["decisions"]:
        say(describe_decision(d))
    if summary["messages"]:
        print(_("{count} message(s): `tessera messages list {case}`", count=summary["messages"], case=case.text_id))

    return 0
