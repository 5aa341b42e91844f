"""A helper's inbox and the messages anyone writes on a case, as data: what `tessera inbox` and `messages send`
print, for the app (and, once issue 26 lands, for those commands, which do the same steps inline today).

Every case goes through the checked opener; an outcome is shown only for a decision whose quorum of signed
votes verifies (tests/hostile/test_cases.py, test_the_inbox_shows_an_outcome_only_when_its_quorum_verifies)."""

from __future__ import annotations

from typing import Any

from client.api import Api
from client.casefiles import CaseMissingError, OpenedCase, open_case
from client.home import Home
from client.threads import open_thread
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.messages import seal_message


async def thread_of(case: OpenedCase, state: DirectoryState) -> list[dict[str, Any]]:
    """The case's messages, opened and checked (`open_thread`): a helper sees the case thread only."""
    answer = await case.api.messages(case.case_id)
    return open_thread(answer.get("messages") if isinstance(answer, dict) else None, case, state)


async def read_inbox(api: Api, home: Home, state: DirectoryState) -> tuple[list[dict[str, Any]], list[str]]:
    """The helper's cases sent from this device: (cases with their verified outcomes, unverified decisions and
    messages; case ids the server no longer serves although it signed a receipt for them). Each case is read as
    its own principal, on that case's own connections when `api` has the session's Isolation (client/net.py)."""
    result, missing = [], []
    for case_text in home.state.get("cases", []):
        item = await _read_case(api, home, str(case_text), state)
        if item is None:
            missing.append(str(case_text))
        else:
            result.append(item)
    return result, missing


async def _read_case(api: Api, home: Home, case_text: str, state: DirectoryState) -> dict[str, Any] | None:
    """One case through the checked opener, with its verified outcomes; None when the server does not serve it."""
    try:
        case = await open_case(api, home, case_text, state)
    except CaseMissingError:
        return None
    outcomes, unverified = [], []
    for d in case.decisions():
        if d["verified"] and d["state"] == "adopted":
            outcomes.append({"action": d["action"], "note": d["note"], "day": d["day"]})
        else:
            reason = d["problem"] or f"its signed votes do not adopt it ({d['yes_votes_verified']} of {d['needed']} yes)"
            unverified.append({"proposal_id": d["proposal_id"], "server_state": d["server_state"], "reason": reason})
    return {
        "case_id": case.text_id,
        "kind": case.form.get("kind"),
        "fields": case.form.get("fields", {}),
        "state": case.raw.get("state"),
        "day": case.raw.get("day"),
        "outcomes": outcomes,
        "unverified": unverified,
        "messages": await thread_of(case, state),
    }


async def send_message(home: Home, record: EpochRecord, case: OpenedCase, text: str, *, council_only: bool = False) -> None:
    """Seal a message to the verified council `record` and, on the case thread, to the reply key the helper
    signed into the case file (the checked opener verified both); sent as the case's principal for a helper."""
    readers = [m.box_key for m in record.members]
    if not council_only:
        readers.append(case.signed.reply_box_key)
    message = seal_message(
        case_id=case.case_id,
        thread="council" if council_only else "case",
        text=text,
        author="helper" if home.role == "helper" else home.account,
        author_keys=case.keys,
        readers=readers,
    )
    await case.api.post_message(case.case_id, message)
