"""council ceremony start / step / run / status; council redistribute / rewrap; council rekey start / status /
contribute / attest."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from client import rekey
from client.ceremony import ceremony_step, open_ceremony
from client.home import Home
from client.i18n import N_, _
from client.mailbox import erase_old_share
from client.output import progress, progress_done, progress_line
from client.plan import CeremonyPlan, Confirm
from client.rewrap import rewrap
from client.session import Session, UsageError
from client.terminal import clean, emit_json, say

IGNORED = N_("ignored {count} message(s) that their supposed author did not sign (the server's doing)")
DONE = N_("done: the council key exists and is in the key directory.")
REKEY_NEXT = N_("a re-key: k members of the old council now run `tessera council rekey contribute`.")


def register(sub: Any) -> None:
    council = sub.add_parser("council", help=_("the council's key ceremony")).add_subparsers(
        dest="council_command", required=True
    )
    ceremony = council.add_parser("ceremony", help=_("create the council key together (no one ever holds all of it)"))
    steps = ceremony.add_subparsers(dest="ceremony_command", required=True)
    p = steps.add_parser(
        "start",
        help=_(
            "administrator: the council's first key ceremony (once; later: `council redistribute` or `council rekey start`)"
        ),
    )
    p.add_argument("--threshold", type=int, required=True, help=_("how many members must approve to reveal an identity"))
    p.add_argument("--members", required=True, help=_("comma-separated account names, e.g. kim,lee,park"))
    p.set_defaults(run=cmd_start)
    p = steps.add_parser(
        "step",
        help=_("member: do what can be done now; repeat until done"),
        description=_(
            "Take your part in the running ceremony (the first council key, a re-key, or a membership "
            "change). The first time, it shows who the new council is (names, safety numbers, whether you compared "
            "them in person) and the threshold, and asks you to accept; nothing is sent before you do."
        ),
    )
    add_confirm_options(p)
    p.set_defaults(run=cmd_step)
    p = steps.add_parser(
        "run",
        help=_("member: take part until the ceremony is done, waiting for the others (resumable)"),
        description=_(
            "Do every step of the running ceremony that you can, wait for the other members, and go on until "
            "it is done, with a progress line. It shows the new council and asks you to accept it first, as `step` "
            "does. It stops after --wait minutes without losing anything: run it again and it resumes where it stopped."
        ),
    )
    add_confirm_options(p)
    p.add_argument(
        "--wait", type=float, default=30, metavar="MINUTES", help=_("wait for the others at most this long (default 30)")
    )
    p.add_argument("--interval", type=float, default=5, metavar="SECONDS", help=_("look again this often (default 5)"))
    p.set_defaults(run=cmd_run)
    p = council.add_parser("redistribute", help=_("administrator: change the council's members or threshold, same key"))
    p.add_argument("--threshold", type=int, required=True, help=_("the new threshold"))
    p.add_argument("--members", required=True, help=_("the new council, comma-separated (kim,lee,mina)"))
    p.add_argument("--dealers", default="", help=_("current members who re-share (default: all who are active)"))
    p.set_defaults(run=cmd_redistribute)
    p = council.add_parser("rewrap", help=_("member: give new members the case keys you hold (after a membership change)"))
    p.set_defaults(run=cmd_rewrap)
    p = steps.add_parser("status", help=_("where the ceremony stands"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_status)
    rekey = council.add_parser(
        "rekey",
        help=_("replace the council key (a member removed for cause, a share feared lost) and switch every case to it"),
    ).add_subparsers(dest="rekey_command", required=True)
    p = rekey.add_parser("start", help=_("administrator: open the key ceremony for the new council key"))
    p.add_argument("--threshold", type=int, required=True, help=_("the new council's threshold"))
    p.add_argument("--members", required=True, help=_("the new council, comma-separated; leave out whom you remove"))
    p.set_defaults(run=cmd_rekey_start)
    p = rekey.add_parser("status", help=_("how far the switch of the cases to the new key got"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_rekey_status)
    p = rekey.add_parser(
        "forget",
        help=_("old council member, after the re-key: erase your share of the old key (checked first; asks for yes)"),
        description=_(
            "Once the re-key is finished, your share of the old council key only endangers the cases that "
            "were sealed to it (a backup, a seized disk). This checks the finish yourself (the new council's "
            "attestation covers every case sealed before the re-key) and then erases it from this device."
        ),
    )
    p.add_argument("--yes", action="store_true", help=_("erase without a question (for scripts)"))
    p.set_defaults(run=cmd_rekey_forget)
    p = rekey.add_parser(
        "contribute", help=_("old council member: your key-switch part for every case (k of you); resumes if interrupted")
    )
    p.set_defaults(run=cmd_rekey_contribute)
    p = rekey.add_parser("attest", help=_("new council member: check every switched case and sign them (k of you)"))
    p.set_defaults(run=cmd_rekey_attest)


async def cmd_start(session: Session, args: argparse.Namespace) -> int:
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    home = session.open_home()
    if home.role != "admin":
        raise UsageError(_("only an administrator opens a ceremony"))
    api = session.api(home)
    state = await session.directory(home, api)
    if state.council is not None:  # the server would open a re-key: every case switched, reveals wait for it
        council = state.council
        raise UsageError(
            _(
                "the council already has its key (epoch {epoch}: {members}, {threshold} needed). To change its members "
                "or threshold and keep the key, run `tessera council redistribute --threshold K --members A,B,C`; for a "
                "new council key (a member removed for cause, a share feared lost), run `tessera council rekey start "
                "--threshold K --members A,B,C`",
                epoch=council.epoch,
                members=", ".join(m.account for m in council.members),
                threshold=council.threshold,
            )
        )
    answer = await open_ceremony(api, threshold=args.threshold, members=members)
    say(
        _(
            "ceremony opened for {members} (threshold {threshold}, epoch {epoch}).",
            members=", ".join(members),
            threshold=args.threshold,
            epoch=answer["params"]["epoch"],
        )
    )
    say(_("Each member now runs `tessera council ceremony run` (it waits for the others until done)."))
    return 0


def add_confirm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help=_("accept the ceremony as shown without a question (for scripts)"))
    p.add_argument(
        "--accept-unverified",
        action="store_true",
        help=_("with --yes: take part although you have not compared safety numbers with every new member"),
    )


def confirm_at_terminal(args: argparse.Namespace) -> Confirm:
    """Show the plan; accept it with --yes (and --accept-unverified if some member is not verified in person),
    or by typing yes at a terminal."""

    def confirm(plan: CeremonyPlan) -> bool:
        for line in plan.describe(_):
            say(line)
        if args.yes:
            if plan.unverified and not args.accept_unverified:
                raise UsageError(
                    _(
                        "not verified in person: {names}. Compare safety numbers with them (`tessera verify NAME`, "
                        "then `--accept`), or add --accept-unverified to take part anyway",
                        names=", ".join(plan.unverified),
                    )
                )
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                _("to take part, run this again with --yes after reading the above (there is no terminal to ask)")
            )
        return input(_("Take part in this ceremony? Type yes: ")).strip().lower() == "yes"

    return confirm


async def cmd_step(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members take part in the ceremony"))
    api = session.api(home)
    result = await ceremony_step(
        api,
        home.keys,
        home.section("ceremony"),
        directory=lambda: session.directory(home, api),
        confirm=confirm_at_terminal(args),
        known=home.section("known"),
        save=home.save,
    )
    home.save()
    if result.dropped:
        say(_(IGNORED, count=result.dropped))
    for action in result.actions:
        say(action)
    if result.done:
        say(_(DONE))
        if (await rekey.fetch_status(api))["state"] == "switching":
            say(_(REKEY_NEXT))
    else:
        say(
            _(
                "waiting for {who}; run this step again later (or `tessera council ceremony run`, which waits).",
                who=result.waiting_for,
            )
        )
    return 0


async def cmd_run(session: Session, args: argparse.Namespace) -> int:
    """`ceremony step` again and again until the verified directory holds the new council (then done), or until
    --wait minutes passed (exit 1, nothing lost: the next run resumes from what this device kept)."""
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members take part in the ceremony"))
    if not 0 < args.wait <= 24 * 60 or not 0.1 <= args.interval <= 600:
        raise UsageError(_("--wait takes 0 to 1440 minutes and --interval 0.1 to 600 seconds"))
    api = session.api(home)
    confirm = confirm_at_terminal(args)
    started = time.monotonic()
    deadline = started + args.wait * 60
    dropped = 0
    while True:
        result = await ceremony_step(
            api,
            home.keys,
            home.section("ceremony"),
            directory=lambda: session.directory(home, api),
            confirm=confirm,
            known=home.section("known"),
            save=home.save,
        )
        home.save()
        dropped += result.dropped
        if result.actions:
            progress_done()
        for action in result.actions:
            say(action)
        if result.done:
            progress_done()
            if dropped:
                say(_(IGNORED, count=dropped))
            say(_(DONE))
            if (await rekey.fetch_status(api))["state"] == "switching":
                say(_(REKEY_NEXT))
            return 0
        waited = time.monotonic() - started
        if time.monotonic() >= deadline:
            progress_done()
            say(
                _(
                    "still waiting for {who} after {minutes} minute(s). Nothing is lost: run `tessera council ceremony "
                    "run` again later; it resumes where it stopped.",
                    who=result.waiting_for,
                    minutes=f"{waited / 60:.0f}",
                )
            )
            return 1
        progress_line(_("waiting for {who} ({seconds} s)", who=clean(result.waiting_for, one_line=True), seconds=f"{waited:.0f}"))
        await asyncio.sleep(args.interval)


async def cmd_redistribute(session: Session, args: argparse.Namespace) -> int:
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    dealers = [d.strip() for d in args.dealers.split(",") if d.strip()]
    home = session.open_home()
    if home.role != "admin":
        raise UsageError(_("only an administrator opens a membership change"))
    answer = await session.api(home).open_redistribution(threshold=args.threshold, members=members, dealers=dealers)
    say(
        _(
            "membership change opened: {members} (threshold {threshold}, epoch {epoch}), same council key.",
            members=", ".join(members),
            threshold=args.threshold,
            epoch=answer["params"]["epoch"],
        )
    )
    say(
        _(
            "Current and new members now run `tessera council ceremony run` (it waits until done); then one current "
            "member runs `tessera council rewrap` so newcomers can read existing cases."
        )
    )
    return 0


async def cmd_rewrap(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members hold case keys"))
    api = session.api(home)
    state, record = await session.council_state(home, api)
    done = await rewrap(api, home, state, record, lambda n: progress(n, n, _("cases re-wrapped")))
    say(
        _(
            "looked at {looked} case(s); added {added} key wrap(s) for new members. The server saw no case key.",
            looked=done.looked,
            added=done.added,
        )
    )
    return 0


async def cmd_status(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    status = await session.api(home).ceremony_status()
    if args.json:
        emit_json(status)
    else:
        params = status["params"]
        say(
            _(
                "ceremony {id}: {state}, threshold {threshold}, members {members}",
                id=status["ceremony_id"],
                state=status["state"],
                threshold=params["threshold"],
                members=", ".join(p["account"] for p in params["participants"]),
            )
        )
        counts = ", ".join(f"{k} {v}" for k, v in sorted(status["messages"].items()))
        say(_("messages: {counts}", counts=counts) if status["messages"] else _("no messages yet"))

    return 0


async def cmd_rekey_start(session: Session, args: argparse.Namespace) -> int:
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    home = session.open_home()
    if home.role != "admin":
        raise UsageError(_("only an administrator opens a re-key"))
    answer = await open_ceremony(session.api(home), threshold=args.threshold, members=members)
    if answer.get("kind") != "rekey":
        say(_("there was no council yet: this is the first key ceremony, not a re-key."))
    say(
        _(
            "re-key opened: new council {members} (threshold {threshold}, epoch {epoch}).",
            members=", ".join(members),
            threshold=args.threshold,
            epoch=answer["params"]["epoch"],
        )
    )
    say(_("1. The new members run `tessera council ceremony run` (it waits until done: the new key)."))
    say(_("2. k members of the old council run `tessera council rekey contribute`."))
    say(_("3. k members of the new council run `tessera council rekey attest`."))
    return 0


def _hint_forget(home: Home, status: dict[str, Any]) -> None:
    if home.role == "council" and rekey.old_share_kept(home.section("ceremony"), status):
        say(_("your share of the old council key is still on this device: erase it with `tessera council rekey forget`."))


async def cmd_rekey_forget(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members hold shares"))
    api = session.api(home)
    state = await session.directory(home, api)
    status = await rekey.fetch_status(api)
    old, covered = await rekey.check_rekey_done(api, state, status)
    secrets = home.section("ceremony")
    if f"share:{old.epoch}" not in secrets:
        say(_("this device holds no share of council epoch {epoch}.", epoch=old.epoch))
        return 0
    say(
        _(
            "the re-key to epoch {epoch} is finished: the new council attested {count} switched case(s).",
            epoch=status["new_epoch"],
            count=covered,
        )
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                _("to erase your share of the old key, run this again with --yes (there is no terminal to ask)")
            )
        prompt = _("Erase your share of council epoch {epoch}? It can never be used again. Type yes: ", epoch=old.epoch)
        if input(prompt).strip() != "yes":
            say(_("kept."))
            return 1
    if not erase_old_share(secrets, state, old.epoch, home.keys):
        raise UsageError(
            _("your share of the new council key does not check against the directory: the old one is kept")
        )
    home.save()
    say(_("erased your share of the old council key (epoch {epoch}): it opens nothing any more.", epoch=old.epoch))
    return 0


async def cmd_rekey_status(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    status = await rekey.fetch_status(api)
    _hint_forget(home, status)
    if args.json:
        emit_json(status)
    elif status["state"] == "none":
        say(_("no council re-key has been made."))
    elif status["state"] == "done":
        say(
            _("the re-key to council epoch {epoch} is complete: every case is under the new key.", epoch=status["new_epoch"])
        )
    else:
        say(
            _(
                "re-key from epoch {old} to {new}: {switched} of {cases} case(s) switched, {remaining} waiting for "
                "contributions.",
                old=status["old_epoch"],
                new=status["new_epoch"],
                switched=status["switched"],
                cases=status["cases"],
                remaining=status["remaining"],
            )
        )
        contributions = sorted(status["contributions"].items())
        by_member = ", ".join(_("member {member}: {count}", member=m, count=n) for m, n in contributions) or _("none yet")
        say(_("contributions: {list}", list=by_member))
        signers = ", ".join(status["attested_by"]) or _("nobody yet")
        say(_("attested by: {names}", names=signers))
    return 0


async def cmd_rekey_contribute(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members contribute to a re-key"))
    api = session.api(home)
    state = await session.directory(home, api)
    count = await rekey.contribute(
        api, home.keys, home.section("ceremony"), state, lambda done, total: progress(done, total, _("cases switched"))
    )
    status = await rekey.fetch_status(api)
    say(
        _(
            "contributed to {count} case(s); {remaining} case(s) still wait for other members.",
            count=count,
            remaining=status.get("remaining", 0),
        )
    )
    if status["state"] == "switching" and not status["remaining"]:
        say(_("every case is switched: k members of the new council now run `tessera council rekey attest`."))
    return 0


async def cmd_rekey_attest(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError(_("only council members attest"))
    api = session.api(home)
    state = await session.directory(home, api)
    answer = await rekey.attest(api, home.keys, state, lambda done, total: progress(done, total, _("cases checked")))
    say(
        _(
            "checked every key switch of {cases} case(s) and signed them ({signatures} of {needed} signatures).",
            cases=answer["cases"],
            signatures=answer["signatures"],
            needed=answer["needed"],
        )
    )
    if answer["state"] == "done":
        say(
            _(
                "the re-key is complete: the old identity headers are deleted. Old members now run "
                "`tessera council rekey forget`."
            )
        )
    return 0
