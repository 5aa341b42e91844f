"""decision propose / vote / list: a vote is signed only on a proposal its voter was shown."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from client.agenda import open_decisions
from client.casefiles import open_case
from client.decide import cast_vote, make_proposal, show_proposal
from client.i18n import _, pgettext
from client.session import Session, UsageError
from client.terminal import clean, emit_json, say, table
from keys.decisions import ACTIONS
from keys.encoding import b64u_encode


def register(sub: Any) -> None:
    decision = sub.add_parser("decision", help=_("propose and vote on what help a case gets")).add_subparsers(
        dest="decision_command", required=True
    )
    p = decision.add_parser("propose", help=_("propose a decision; prints the proposal id"))
    p.add_argument("case")
    p.add_argument("--action", required=True, choices=ACTIONS)
    p.add_argument("--note", default="", help=_("what exactly (amounts, conditions); the helper reads it if adopted"))
    p.add_argument(
        "--needed",
        type=int,
        help=_(
            "yes votes that adopt it (default: more than half the council; the server refuses fewer than the "
            "organisation's rule for the action)"
        ),
    )
    p.set_defaults(run=cmd_propose)
    p = decision.add_parser("vote", help=_("vote on a proposal (it is shown first)"))
    p.add_argument("proposal")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--yes", action="store_true")
    group.add_argument("--no", action="store_true")
    p.set_defaults(run=cmd_vote)
    p = decision.add_parser("list", help=_("open proposals: case, action, votes so far (signed ones only), what you voted"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)


async def cmd_propose(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members propose decisions"))
    api = session.api(home)
    state, record = await session.council_state(home, api)
    case = await open_case(api, home, args.case, state)
    print(await make_proposal(api, home, state, record, case, args.action, args.note or args.action, args.needed))
    return 0


async def cmd_vote(session: Session, args: argparse.Namespace) -> int:
    """Show the proposal as its proposer signed it (case, action, note, quorum), then sign a vote on its digest.

    Verified first: the proposal parses, its case id is the one asked for, its proposer is a member of the
    council of its epoch in the verified directory and signed it, and its case opens through the checked
    opener. Shown by tests/hostile/test_cases.py: test_a_vote_is_signed_only_on_the_proposal_shown."""
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members vote"))
    api = session.api(home)
    state = await session.directory(home, api)
    shown = await show_proposal(api, home, state, args.proposal)  # checked as client/decide.py says
    text, case, decision = b64u_encode(shown.proposal.proposal_id), shown.case, shown.decision
    say(
        _(
            "proposal {proposal} by {proposer} on case {case} ({kind}):",
            proposal=text,
            proposer=decision["proposer"],
            case=case.text_id,
            kind=case.form.get("kind"),
        ),
        one_line=True,
    )
    say(
        "  "
        + _(
            "action: {action}; adopted with {needed} yes votes of {size}",
            action=decision["action"],
            needed=decision["needed"],
            size=shown.council_size,
        ),
        one_line=True,
    )
    say("  " + _("note: {note}", note=clean(decision["note"])))
    choice = "yes" if args.yes else "no"
    prompt = _("Sign your vote ({choice}) on this proposal? Type yes: ", choice=choice)
    if sys.stdin.isatty() and input(prompt).strip().lower() != "yes":
        print(_("no vote sent."))
        return 1
    counted = await cast_vote(api, home, state, shown, approve=bool(args.yes))
    outcome = {
        "open": _("the decision needs more votes"),
        "adopted": _("the decision is adopted"),
        "rejected": _("the proposal is rejected"),
    }.get(counted["state"]) or _("its votes do not verify")
    print(
        _(
            "vote recorded; {outcome} ({verified} of {needed} yes votes verified).",
            outcome=outcome,
            verified=counted["yes_votes_verified"],
            needed=counted["needed"],
        )
    )
    return 0


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    """The open proposals, each read from its signatures on a case that passed the checked opener
    (agenda.open_decisions): the votes shown are the signed ones that verify, "you" is this member's own."""
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members see proposals; helpers see adopted decisions in `tessera cases list`"))
    api = session.api(home)
    state = await session.directory(home, api)
    items = await open_decisions(api, home, state)
    if args.json:
        emit_json({"proposals": items})
        return 0
    rows = []
    for d in items:
        if d.get("action") is None:
            unverified = _("NOT VERIFIED: {problem}", problem=d["problem"])
            rows.append((d["proposal_id"], d["case_id"], "?", "?", "-", "-", "-", unverified))
            continue
        votes = _("{yes} of {needed} yes", yes=d["yes_votes_verified"], needed=d["needed"])
        nos = sum(1 for v in d["votes"] if not v["approve"])
        if nos:
            votes += _(", {count} no", count=nos)
        note = d["note"] if d["problem"] is None else _("NOT VERIFIED: {problem}", problem=d["problem"])
        if d["problem"] is None and not d["current_epoch"]:
            note = _("made for an earlier council (epoch {epoch}): propose it again. {note}", epoch=d["epoch"], note=note)
        rows.append(
            (
                d["proposal_id"],
                d["case_id"],
                d["kind"] or "?",
                d["action"],
                d["proposer"],
                votes,
                d["you_voted"] or _("not yet"),
                note,
            )
        )
    headers = (_("proposal"), pgettext("column", "case"), _("kind"), _("action"), _("proposer"), _("votes"), _("you"), _("note"))
    table(rows, headers)
    if any(d.get("you_voted") is None and d.get("problem") is None for d in items):
        print(_("vote with `tessera decision vote PROPOSAL --yes` or `--no` (the proposal is shown before you sign)."))

    return 0
