"""What waits for a person, computed on the device: open decisions (`decision list`) and `tessera todo`.

Every item comes from something this device verified, or says whose word it is: a proposal counts only as its
proposer signed it and its votes only when their signatures check (casefiles.read_decision); new messages and the
helper's addenda are opened and checked (threads.py); a ceremony is done for this member when the verified
directory holds its council, whatever the server's status says; the outbox is this device's own. Where only the
server can say something (a reveal request's approvals before they are combined, how many messages a case
holds), the item says "the server says".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from client.api import Api, ApiError
from client.casefiles import open_case, read_decision
from client.home import Home
from client.i18n import N_
from client.rekey import fetch_status
from client.threads import open_thread
from client.triage import CaseView, council_cases, helper_cases
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_decode
from keys.errors import DirectoryError, TesseraError


@dataclass
class Item:
    """One thing that waits: what (a message of the catalog and its values), and the command that does it."""

    kind: str  # key-change, ceremony, rekey, rewrap, reveal-approve, reveal-open, vote, withdrawal, amendment,
    #            message, request-info, outbox, problem
    message: str
    command: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What waits, in English (as --json gives it to scripts)."""
        return self.message.format(**self.values)

    def shown(self, translate: Callable[..., str]) -> str:
        """What waits, through `translate` (client.i18n's `_`: the command's language)."""
        return translate(self.message, **self.values)

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text, "command": self.command}


@dataclass
class Agenda:
    items: list[Item] = field(default_factory=list)

    def add(self, kind: str, message: str, command: str = "", /, **values: Any) -> None:
        self.items.append(Item(kind, message, command, values))


async def open_decisions(api: Api, home: Home, state: DirectoryState) -> list[dict[str, Any]]:
    """The open proposals the server lists, each read from its signatures on a case opened through the checked
    opener (`read_decision`), with what this member voted (from their verified vote). A proposal whose case does
    not open, or which does not verify, is returned with `problem` set."""
    answer = await api.open_proposals()
    items = answer.get("proposals") if isinstance(answer, dict) else None
    cases: dict[str, Any] = {}
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        case_text = str(item.get("case_id"))
        if case_text not in cases:
            try:
                cases[case_text] = await open_case(api, home, case_text, state)
            except DirectoryError:
                raise
            except (TesseraError, ApiError) as exc:
                cases[case_text] = exc
        case = cases[case_text]
        if isinstance(case, Exception):
            out.append({"proposal_id": str(item.get("proposal_id")), "case_id": case_text, "problem": f"its case: {case}"})
            continue
        d = read_decision(item, case_id=case.case_id, case_key=case.case_key, directory=state)
        mine = next((v["approve"] for v in d["votes"] if v["account"] == home.account), None)
        d["kind"] = case.form.get("kind")
        d["you_voted"] = None if mine is None else ("yes" if mine else "no")
        d["current_epoch"] = state.council is not None and d["epoch"] == state.council.epoch
        out.append(d)
    return out


def _member_of(record: EpochRecord | None, account: str) -> bool:
    return record is not None and any(m.account == account for m in record.members)


async def todo(
    api: Api,
    home: Home,
    state: DirectoryState,
    *,
    outbox: tuple[int, int],
    on_progress: Callable[[int, int | None], None] = lambda done, total: None,
) -> Agenda:
    """What waits for this person. `outbox`: (intakes, uploads) waiting in this device's outbox."""
    agenda = Agenda()
    for notice in home.state.get("notices", []):
        name = str(notice.get("account"))
        agenda.add(
            "key-change",
            N_("{name} replaced their keys (a rotation signed with their previous keys); compare the new safety number"),
            f"tessera verify {name}",
            name=name,
        )
    intakes, uploads = outbox
    if intakes or uploads:
        agenda.add(
            "outbox",
            N_("{intakes} intake(s) and {uploads} attachment upload(s) wait in your outbox"),
            "tessera outbox flush   (see them: tessera outbox list)",
            intakes=intakes,
            uploads=uploads,
        )
    if home.role == "council":
        await _council(api, home, state, agenda, on_progress)
    elif home.role == "helper":
        await _helper(api, home, state, agenda, on_progress)
    elif home.role == "admin":
        await _ceremony(api, home, state, agenda)
    return agenda


async def _ceremony(api: Api, home: Home, state: DirectoryState, agenda: Agenda) -> None:
    try:
        status = await api.ceremony_status()
    except ApiError as exc:
        if exc.status == 404:
            return
        raise
    params = status.get("params") if isinstance(status, dict) else None
    if not isinstance(params, dict) or status.get("state") != "running":
        return
    epoch = params.get("epoch")
    if state.council is not None and isinstance(epoch, int) and state.council.epoch >= epoch:
        return  # the verified directory holds that council already
    names = [str(p.get("account")) for p in params.get("participants", []) if isinstance(p, dict)]
    if home.role == "admin":
        agenda.add(
            "ceremony",
            N_("a key ceremony for council epoch {epoch} is running ({names})"),
            "tessera council ceremony status",
            epoch=epoch,
            names=", ".join(names),
        )
        return
    dealing = state.council is not None and _member_of(state.council, home.account) and "dealers" in params
    if home.account in names or dealing:
        waits = N_("a key ceremony for council epoch {epoch} waits for your part")
        agenda.add("ceremony", waits, "tessera council ceremony run", epoch=epoch)



async def _council(
    api: Api, home: Home, state: DirectoryState, agenda: Agenda, on_progress: Callable[[int, int | None], None]
) -> None:
    await _ceremony(api, home, state, agenda)
    record = state.council
    switch = await fetch_status(api)
    if switch["state"] == "switching":
        old = state.council_at(int(switch.get("old_epoch", -1)))
        if switch.get("remaining") and _member_of(old, home.account):
            agenda.add(
                "rekey",
                N_("{count} case(s) wait for key-switch contributions (the server says)"),
                "tessera council rekey contribute",
                count=switch["remaining"],
            )
        if not switch.get("remaining") and _member_of(record, home.account) and home.account not in switch.get("attested_by", []):
            agenda.add(
                "rekey", N_("every case is switched to the new council key: check and sign them"), "tessera council rekey attest"
            )
    if record is None or not _member_of(record, home.account):
        return
    if record.member_by_sign_key(home.keys.public().sign_key) is None:
        # rotated since the council's last membership change: the server takes this member's part only after one
        agenda.add(
            "rekey",
            N_(
                "your keys changed since the council's last membership change: until an administrator runs one with "
                "the same members (and you take part), you cannot approve, vote or read cases"
            ),
            "administrator: tessera council redistribute --threshold K --members (the same members)",
        )
        return
    wraps = await api.wraps(limit=500)
    if any(item.get("missing") for item in wraps.get("wraps", []) if isinstance(item, dict)):
        agenda.add("rewrap", N_("newer council members have no key for some cases yet"), "tessera council rewrap")
    reveals = await api.pending_reveals()
    for item in reveals.get("requests", []) if isinstance(reveals, dict) else []:
        request = item.get("request", {}) if isinstance(item, dict) else {}
        rid = str(request.get("request_id"))
        if rid not in home.section("reveals"):
            agenda.add(
                "reveal-approve",
                N_("reveal request {request} on case {case} waits for your approval"),
                f"tessera reveal approve {rid}",
                request=rid,
                case=request.get("case_id"),
            )
    for rid, kept in home.section("reveals").items():
        try:
            mine = await api.reveal(b64u_decode(rid, what="request id"))
        except ApiError as exc:
            if exc.status in (404, 410):
                agenda.add("reveal-open", N_("your reveal request {request} is gone from the server (expired)"), "", request=rid)
                continue
            raise
        count = len(mine.get("partials", [])) if isinstance(mine, dict) else 0
        if count >= record.threshold:
            agenda.add(
                "reveal-open",
                N_(
                    "your reveal request {request} on case {case} has {count} approvals (the server says; opening "
                    "checks each)"
                ),
                f"tessera reveal open {rid} --attachments-to DIR",
                request=rid,
                case=kept.get("case"),
                count=count,
            )
    for d in await open_decisions(api, home, state):
        if d.get("problem") is None and d["current_epoch"] and d["state"] == "open" and d["you_voted"] is None:
            agenda.add(
                "vote",
                N_("decision {proposal} on case {case} ({kind}): {action}, {yes} of {needed} yes so far"),
                f"tessera decision vote {d['proposal_id']} --yes|--no",
                proposal=d["proposal_id"],
                case=d["case_id"],
                kind=d["kind"],
                action=d["action"],
                yes=d["yes_votes_verified"],
                needed=d["needed"],
            )
    views = await council_cases(api, home, state, on_progress=on_progress)
    seen = home.section("seen")
    for view in views:
        if view.problem is not None:
            show = f"tessera cases show {view.case_id}"
            agenda.add("problem", N_("case {case}: {problem}"), show, case=view.case_id, problem=view.problem)
            continue
        if view.last_seq <= int(seen.get(view.case_id, 0)):
            continue
        case = await open_case(api, home, view.case_id, state)
        thread = await api.messages(case.case_id, after=int(seen.get(view.case_id, 0)))
        _new_messages(agenda, view, open_thread(thread.get("messages"), case, state), home)


def _new_messages(agenda: Agenda, view: CaseView, messages: list[dict[str, Any]], home: Home) -> None:
    """Items for the messages this person has not read yet (their own excluded)."""
    me = "helper" if home.role == "helper" else home.account
    fresh = [m for m in messages if m["author"] != me]
    for m in fresh:
        addendum = m.get("addendum")
        if addendum and addendum["kind"] == "withdrawal":
            agenda.add(
                "withdrawal",
                N_("the helper asks to withdraw case {case} ({kind}): {note}"),
                f"tessera decision propose {view.case_id} --action close --note TEXT",
                case=view.case_id,
                kind=view.kind,
                note=addendum["note"] or "-",
            )
        elif addendum:
            agenda.add(
                "amendment",
                N_("the helper amended case {case} ({kind})"),
                f"tessera cases show {view.case_id}",
                case=view.case_id,
                kind=view.kind,
            )
    plain = [m for m in fresh if not m.get("addendum")]
    if plain:
        agenda.add(
            "message",
            N_("{count} new message(s) on case {case} ({kind})"),
            f"tessera messages list {view.case_id}",
            count=len(plain),
            case=view.case_id,
            kind=view.kind,
        )


async def _helper(
    api: Api, home: Home, state: DirectoryState, agenda: Agenda, on_progress: Callable[[int, int | None], None]
) -> None:
    seen = home.section("seen")
    decided = home.section("outcomes_seen")
    for view in await helper_cases(api, home, state, on_progress=on_progress):
        if not view.sent:
            continue
        if view.problem is not None:
            agenda.add("problem", N_("case {case}: {problem}"), "tell your council", case=view.case_id, problem=view.problem)
            continue
        for d in view.decisions:
            if d["verified"] and d["state"] == "adopted" and d["proposal_id"] not in decided:
                asks = d["action"] == "request-info"
                command = (
                    f"tessera intake amend {view.case_id} --note TEXT"
                    if d["action"] == "request-info"
                    else (f"tessera cases show {view.case_id}")
                )
                agenda.add(
                    "request-info" if asks else "decision",
                    N_("case {case} ({kind}, {date}): the council asks for more information: {note}")
                    if asks
                    else N_("case {case} ({kind}, {date}): decided: {action}: {note}"),
                    command,
                    case=view.case_id,
                    kind=view.kind,
                    date=view.date,
                    action=d["action"],
                    note=d["note"],
                )
        last = int(seen.get(view.case_id, 0))
        _new_messages(agenda, view, [m for m in view.messages if isinstance(m.get("seq"), int) and m["seq"] > last], home)


def mark_seen(home: Home, case_id: str, messages: list[dict[str, Any]]) -> None:
    """Remember the last message of a case this person has read (`messages list`): `todo` names newer ones."""
    seqs = [m["seq"] for m in messages if isinstance(m.get("seq"), int)]
    if seqs and max(seqs) > int(home.section("seen").get(case_id, 0)):
        home.section("seen")[case_id] = max(seqs)
        home.save()


def mark_outcomes_seen(home: Home, decisions: list[dict[str, Any]]) -> None:
    """Remember the adopted decisions a helper has read (`cases show`, `inbox`)."""
    seen = home.section("outcomes_seen")
    fresh = [d["proposal_id"] for d in decisions if d["verified"] and d["state"] == "adopted" and d["proposal_id"] not in seen]
    for pid in fresh:
        seen[pid] = True
    if fresh:
        home.save()
