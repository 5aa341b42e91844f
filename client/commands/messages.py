"""messages send / messages list, and inbox (a helper's outcomes and messages on their own cases)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from client.agenda import mark_outcomes_seen, mark_seen
from client.api import HostileServerError
from client.casefiles import CaseMissingError, open_case
from client.i18n import _
from client.session import Session, UsageError
from client.submit import case_council, case_directory
from client.terminal import clean, emit_json, say
from client.threads import open_thread
from keys.messages import seal_message


def register(sub: Any) -> None:
    messages = sub.add_parser("messages", help=_("a case's message thread")).add_subparsers(
        dest="messages_command", required=True
    )
    p = messages.add_parser("send", help=_("send a sealed message on a case"))
    p.add_argument("case")
    p.add_argument("--text", required=True)
    p.add_argument(
        "--council-only", action="store_true", help=_("a note for council members only (the helper never sees it)")
    )
    p.set_defaults(run=cmd_send)
    p = messages.add_parser("list", help=_("messages on a case"))
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("inbox", help=_("helpers: decisions and messages on your own cases"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_inbox)


async def cmd_send(session: Session, args: argparse.Namespace) -> int:
    """Seal a message to the verified council of the current epoch and, on the case thread, to the reply key
    the helper signed into the case file (the checked opener verified both)."""
    home = session.open_home()
    if args.council_only and home.role == "helper":
        raise UsageError(_("helpers write on the case thread only"))
    api = session.api(home)
    state, record = await case_council(session, home)
    case = await open_case(api, home, args.case, state)
    readers = [m.box_key for m in state.active_members(record)]  # not a revoked member's (a seized device)
    if not args.council_only:
        readers.append(case.signed.reply_box_key)
    message = seal_message(
        case_id=case.case_id,
        thread="council" if args.council_only else "case",
        text=args.text,
        author="helper" if home.role == "helper" else home.account,
        author_keys=case.keys,
        readers=readers,
    )
    await case.api.post_message(case.case_id, message)
    print(_("sent."))
    return 0


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    state = await case_directory(session, home)
    case = await open_case(api, home, args.case, state)
    items = open_thread((await case.api.messages(case.case_id)).get("messages"), case, state)
    mark_seen(home, case.text_id, items)  # `tessera todo` names only messages after these
    if args.json:
        emit_json({"case_id": case.text_id, "messages": items})
    else:
        for m in items:
            author = clean(m["author"], one_line=True)
            if m["thread"] == "council":
                author = _("{author} (council only)", author=author)
            day = _("[day {day}]", day=clean(m["day"], one_line=True))
            say(f"{day} {author}: {clean(m['text'])}")
        if not items:
            print(_("(no messages)"))
    return 0


async def cmd_inbox(session: Session, args: argparse.Namespace) -> int:
    """A helper's cases, each through the checked opener: outcomes are shown only for decisions whose quorum of
    signed votes verifies (tests/hostile/test_cases.py, test_the_inbox_shows_an_outcome_only_when_its_quorum_verifies);
    any other decision the server reports is named as unverified, without its note."""
    home = session.open_home()
    if home.role != "helper":
        raise UsageError(_("the inbox is for field helpers; council members use `tessera cases list`"))
    api = session.api(home)
    state = await case_directory(session, home)  # names nobody: a token read (client/submit.py)
    result, missing = [], []
    for case_text in home.state.get("cases", []):
        # each case is read as its own principal, on that case's own connections (Api.as_principal with the
        # session's Isolation, client/net.py): the reads do not tie the cases to each other or to the account
        try:
            case = await open_case(api, home, case_text, state)
        except CaseMissingError:
            missing.append(case_text)
            continue
        messages = open_thread((await case.api.messages(case.case_id)).get("messages"), case, state)
        outcomes, unverified = [], []
        for d in case.decisions():
            if d["verified"] and d["state"] == "adopted":
                outcomes.append({"action": d["action"], "note": d["note"], "day": d["day"], "state": "adopted"})
            else:
                reason = d["problem"] or (
                    f"its signed votes do not adopt it ({d['yes_votes_verified']} of {d['needed']} yes)"  # --json: English
                )
                unverified.append({"proposal_id": d["proposal_id"], "server_state": d["server_state"], "reason": reason})
        mark_outcomes_seen(home, case.decisions())
        mark_seen(home, case_text, messages)
        result.append(
            {
                "case_id": case_text,
                "kind": case.form.get("kind"),
                "state": case.raw.get("state"),
                "outcomes": outcomes,
                "unverified": unverified,
                "messages": messages,
            }
        )
    if args.json:
        emit_json({"cases": result})
    else:
        for c in result:
            say(_("case {case} ({kind}): {state}", case=c["case_id"], kind=c["kind"], state=c["state"]), one_line=True)
            for o in c["outcomes"]:
                say("  " + _("decision: {action}: {note}", action=o["action"], note=clean(o["note"])))
            for u in c["unverified"]:
                say(
                    "  "
                    + _(
                        "UNVERIFIED: the server reports decision {proposal} as {state}, not shown: {reason}",
                        proposal=u["proposal_id"],
                        state=u["server_state"],
                        reason=u["reason"],
                    )
                )
            for m in c["messages"]:
                say("  " + _("message from {author}: {text}", author=clean(m["author"], one_line=True), text=clean(m["text"])))
        if not result:
            print(_("(no cases sent from this device yet)"))
    if any(c["unverified"] for c in result):
        print(
            _("warning: some decisions the server reports do not verify; they are not shown as outcomes."), file=sys.stderr
        )
    if missing:  # issue 25 item 5: a case she holds a signed receipt for is gone
        days = {c: home.section("receipts").get(c, {}).get("day") for c in missing}
        named = [c + (_(" (receipt of day {day})", day=days[c]) if days[c] is not None else "") for c in missing]
        raise HostileServerError(
            _(
                "the server no longer serves {missing} of the {count} case(s) you sent and it signed receipts for: "
                "{cases}. Unless your organisation's retention period has passed for them, the server lost or hid "
                "them: tell your council",
                missing=len(missing),
                count=len(missing) + len(result),
                cases=", ".join(named),
            )
        )
    return 0
