"""A case's message thread opened on the device: each message checked for where it belongs and who wrote it,
and the helper's addenda (keys/addenda.py) told apart from ordinary messages."""

from __future__ import annotations

from typing import Any

from client.casefiles import OpenedCase
from keys.addenda import parse_addendum
from keys.directory import DirectoryState
from keys.errors import TesseraError
from keys.messages import SealedMessage, open_message
from keys.wire import from_wire


def open_thread(items: Any, case: OpenedCase, state: DirectoryState) -> list[dict[str, Any]]:
    """Open each message and check where it belongs and who wrote it.

    A message is this case's only if its sealed case id is the case shown (a helper reads the case thread
    only); one of another case is not shown, whatever the server says (tests/hostile/test_cases.py,
    test_a_message_of_another_case_is_not_listed_in_this_thread). The author: "helper" must have signed with
    the case's reply key from the case file, anyone else with a key the verified directory gives that council
    member now or gave before a rotation (the server can seal a message to every reader, so a signature by an
    unknown key is shown as such). A helper's message that carries an addendum gets `addendum` (kind, fields,
    note); an addendum counts only from the helper's reply key, never from anyone else's message."""
    out = []
    for item in items if isinstance(items, list) else []:
        entry: dict[str, Any] = {"seq": item.get("seq"), "day": item.get("day"), "thread": "?", "addendum": None}
        try:
            message = from_wire(SealedMessage, item.get("message"))
        except TesseraError as exc:
            out.append({**entry, "author": "?", "text": f"(malformed: {exc})", "verified": False})
            continue
        entry["thread"] = message.thread
        if message.case_id != case.case_id or (_helper(case) and message.thread != "case"):
            moved = "(not shown: the server moved a message of another case or thread here)"
            out.append({**entry, "author": "?", "text": moved, "verified": False})
            continue
        try:
            body = open_message(message, case.keys)
        except TesseraError as exc:
            out.append({**entry, "author": "?", "text": f"(does not open: {exc})", "verified": False})
            continue
        if body.author == "helper":
            verified = body.author_key == case.signed.reply_sign_key
        else:
            account = state.active(body.author)  # a revoked member's keys (a seized device) vouch for nothing
            verified = account is not None and account.role == "council" and account.signed_with(body.author_key)
        text, addendum = body.text, None
        if verified and body.author == "helper":
            try:
                found = parse_addendum(body.text, case_id=case.case_id)
            except TesseraError as exc:
                text = f"(a malformed addendum: {exc})"
            else:
                if found is not None:
                    addendum = {"kind": found.kind, "fields": {f.name: f.value for f in found.fields}, "note": found.note}
                    text = describe_addendum(addendum)
        out.append(
            {
                **entry,
                "author": body.author if verified else f"{body.author} (UNVERIFIED SENDER)",
                "text": text,
                "verified": verified,
                "addendum": addendum,
            }
        )
    return out


def describe_addendum(addendum: dict[str, Any]) -> str:
    """One readable text for an addendum (its fields and note)."""
    if addendum["kind"] == "withdrawal":
        return "asks to WITHDRAW this case" + (f": {addendum['note']}" if addendum["note"] else "")
    parts = [f"{name} = {value}" for name, value in addendum["fields"].items()]
    if addendum["note"]:
        parts.append(addendum["note"])
    return "amended the case: " + "; ".join(parts)


def _helper(case: OpenedCase) -> bool:
    return case.api.principal is not None and case.api.principal.startswith("case:")
