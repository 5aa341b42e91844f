"""messages send / messages list, and inbox (a helper's outcomes and messages on their own cases)."""

from __future__ import annotations

import argparse
from typing import Any

from client.api import Api
from client.casefiles import open_as_helper, open_as_member, parse_case_id
from client.home import Home
from client.output import emit_json
from client.session import Session, UsageError
from keys.accounts import AccountKeys
from keys.directory import DirectoryState
from keys.encoding import b64u_decode
from keys.errors import TesseraError
from keys.messages import SealedMessage, open_message, seal_message
from keys.wire import from_wire, to_wire


def register(sub: Any) -> None:
    messages = sub.add_parser("messages", help="a case's message thread").add_subparsers(dest="messages_command", required=True)
    p = messages.add_parser("send", help="send a sealed message on a case")
    p.add_argument("case")
    p.add_argument("--text", required=True)
    p.add_argument("--council-only", action="store_true", help="a note for council members only (the helper never sees it)")
    p.set_defaults(run=cmd_send)
    p = messages.add_parser("list", help="messages on a case")
    p.add_argument("case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("inbox", help="helpers: decisions and messages on your own cases")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_inbox)


async def _thread(session: Session, home: Home, case_text: str) -> tuple[Api, AccountKeys, list[bytes], bytes, bytes]:
    """(api to use, keys that read and sign, the case thread's readers, case id, the case's reply signing key),
    the reply keys taken from the case file the helper signed."""
    api = session.api(home)
    record = await session.council(home, api)
    council = [m.box_key for m in record.members]
    if home.role == "helper":
        case_id = parse_case_id(case_text)
        case, as_case, reply = await open_as_helper(api, home, case_id)
        return as_case, reply, [*council, case.envelope.reply_box_key], case_id, case.envelope.reply_sign_key
    case = await open_as_member(api, home, case_text)
    return api, home.keys, [*council, case.envelope.reply_box_key], case.case_id, case.envelope.reply_sign_key


async def cmd_send(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api, keys, readers, case_id, _reply_sign_key = await _thread(session, home, args.case)
    if args.council_only:
        if home.role == "helper":
            raise UsageError("helpers write on the case thread only")
        readers = readers[:-1]
    author = "helper" if home.role == "helper" else home.account
    message = seal_message(
        case_id=case_id,
        thread="council" if args.council_only else "case",
        text=args.text,
        author=author,
        author_keys=keys,
        readers=readers,
    )
    await api.call("POST", f"/v1/cases/{args.case}/messages", body=to_wire(message))
    print("sent.")
    return 0


def _open_all(
    items: list[dict[str, Any]], keys: AccountKeys, *, state: DirectoryState, reply_sign_key: bytes
) -> list[dict[str, Any]]:
    """Open each message and check its sender: "helper" must have signed with the case's reply key, anyone
    else with the key the verified directory has for them (the server can seal a message to every reader,
    so a signature by an unknown key is shown as such)."""
    out = []
    for item in items:
        message = from_wire(SealedMessage, item["message"])
        entry = {"seq": item["seq"], "day": item["day"], "thread": message.thread}
        try:
            body = open_message(message, keys)
        except TesseraError as exc:
            out.append({**entry, "author": "?", "text": f"(does not open: {exc})", "verified": False})
            continue
        if body.author == "helper":
            verified = body.author_key == reply_sign_key
        else:
            account = state.active(body.author)
            verified = account is not None and account.role == "council" and account.keys.sign_key == body.author_key
        out.append(
            {
                **entry,
                "author": body.author if verified else f"{body.author} (UNVERIFIED SENDER)",
                "text": body.text,
                "verified": verified,
            }
        )
    return out


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api, keys, _readers, _case_id, reply_sign_key = await _thread(session, home, args.case)
    state = await session.directory(home, session.api(home))
    items = _open_all(
        (await api.call("GET", f"/v1/cases/{args.case}/messages"))["messages"], keys, state=state, reply_sign_key=reply_sign_key
    )
    if args.json:
        emit_json({"case_id": args.case, "messages": items})
    else:
        for m in items:
            print(f"[day {m['day']}] {m['author']}{' (council only)' if m['thread'] == 'council' else ''}: {m['text']}")
        if not items:
            print("(no messages)")
    return 0


async def cmd_inbox(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "helper":
        raise UsageError("the inbox is for field helpers; council members use `tessera cases list`")
    api = session.api(home)
    state = await session.directory(home, api)
    result = []
    for case_text in home.state.get("cases", []):
        case, as_case, reply = await open_as_helper(api, home, b64u_decode(case_text, length=16))
        messages = _open_all(
            (await as_case.call("GET", f"/v1/cases/{case_text}/messages"))["messages"],
            reply,
            state=state,
            reply_sign_key=case.envelope.reply_sign_key,
        )
        assert state.council is not None
        outcomes = [
            {"action": d["action"], "note": d["note"], "day": d["day"], "state": d["state"]}
            for d in case.decisions(state.council)
        ]
        result.append(
            {
                "case_id": case_text,
                "kind": case.form.get("kind"),
                "state": case.raw["state"],
                "outcomes": outcomes,
                "messages": messages,
            }
        )
    if args.json:
        emit_json({"cases": result})
    else:
        for c in result:
            print(f"case {c['case_id']} ({c['kind']}): {c['state']}")
            for o in c["outcomes"]:
                print(f"  decision: {o['action']}: {o['note']}")
            for m in c["messages"]:
                print(f"  message from {m['author']}: {m['text']}")
        if not result:
            print("(no cases sent from this device yet)")
    return 0
