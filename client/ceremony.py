"""A council member's side of the key ceremony: look at the mailbox, do what can be done now, and say
what happened. Run it again until the ceremony is done (`tessera council ceremony step`).

`secrets` is the member's private state between steps (the dealer polynomial, then the final share); the
caller keeps it in the keystore. Nothing here prints or touches files.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from client.api import Api
from keys import dkg
from keys.accounts import AccountKeys
from keys.ceremony import DealerSecret, DkgAnswer, DkgCommitment, DkgComplaint, DkgEcho, DkgShare
from keys.council import EpochRecord
from keys.directory import payload_for, sign_payload
from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.errors import ProtocolError
from keys.group import Scalar
from keys.wire import from_wire, to_wire


@dataclass
class StepResult:
    actions: list[str] = field(default_factory=list)
    waiting_for: str = ""
    done: bool = False
    record: EpochRecord | None = None


async def post_message(api: Api, ceremony_id: str, kind: str, message: Any) -> None:
    body = canonical_json(message).decode()
    await api.call("POST", f"/v1/ceremonies/{ceremony_id}/messages", body={"v": 1, "kind": kind, "body": body})


async def ceremony_step(
    api: Api, keys: AccountKeys, secrets: MutableMapping[str, str], *, council: EpochRecord | None = None
) -> StepResult:
    """Do everything this member can do now in the running ceremony (a key ceremony, or a membership change
    of `council`, the record this device verified)."""
    result = StepResult()
    status = await api.call("GET", "/v1/ceremonies/current")
    ceremony_id = status["ceremony_id"]
    mailbox = await api.call("GET", f"/v1/ceremonies/{ceremony_id}/messages", query={"after": 0})
    if mailbox.get("kind") == "redistribute":
        from client.redistribution import redistribution_step  # the membership change builds on this module

        if council is None:
            raise ProtocolError("a membership change needs the council record verified on this device")
        return await redistribution_step(api, keys, secrets, mailbox, ceremony_id, council)
    params = from_wire(dkg.DkgParams, mailbox["params"])
    me: int = mailbox["index"]
    prefix = f"{ceremony_id}:"
    if mailbox["state"] == "done":
        secrets.pop(prefix + "dealer", None)  # the polynomial is no longer needed: erase it
        result.done = True
        return result
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for m in mailbox["messages"]:
        by_kind.setdefault(m["kind"], []).append(m)

    def mine(kind: str) -> list[dict[str, Any]]:
        return [m for m in by_kind.get(kind, []) if m["sender"] == me]

    # Round 1: commitments.
    if not mine("commitment"):
        secret, commitment = dkg.deal(params, me)
        secrets[prefix + "dealer"] = b64u_encode(secret.encode())
        await post_message(api, ceremony_id, "commitment", to_wire(commitment))
        result.actions.append("posted your commitments (round 1)")
        result.waiting_for = "the other members' commitments"
        return result
    secret = DealerSecret.decode(b64u_decode(secrets[prefix + "dealer"]))
    commitments = {m["sender"]: from_wire(DkgCommitment, m["body"]) for m in by_kind.get("commitment", [])}
    if len(commitments) < len(params.participants):
        result.waiting_for = f"commitments from {len(params.participants) - len(commitments)} member(s)"
        return result
    transcript = dkg.check_commitments(params, list(commitments.values()))
    # Echo: everyone signs the transcript they saw.
    if not mine("echo"):
        await post_message(api, ceremony_id, "echo", to_wire(dkg.echo(params, me, keys, transcript)))
        result.actions.append("confirmed the round-1 transcript")
    echoes = [from_wire(DkgEcho, m["body"]) for m in by_kind.get("echo", [])]
    if len(echoes) < len(params.participants):
        result.waiting_for = "every member's confirmation of the transcript"
        return result
    dkg.check_echoes(params, transcript, echoes)  # raises ProtocolError naming anyone who saw something else
    # Round 2: shares.
    if not mine("share"):
        for share in dkg.deal_shares(params, secret, keys):
            await post_message(api, ceremony_id, "share", to_wire(share))
        result.actions.append("sent your shares to each member (round 2)")
    shares: dict[int, Scalar] = {me: secret.polynomial.evaluate(me)}
    complained = {from_wire(DkgComplaint, m["body"]).accused for m in mine("complaint")}
    for m in by_kind.get("share", []):
        message = from_wire(DkgShare, m["body"])
        if message.recipient != me or message.sender == me or message.sender in complained:
            continue
        try:
            shares[message.sender] = dkg.receive_share(params, me, keys, commitments[message.sender], message)
        except ProtocolError:
            await post_message(api, ceremony_id, "complaint", to_wire(dkg.complain(params, me, keys, message.sender)))
            complained.add(message.sender)
            result.actions.append(f"complained about the share from member {message.sender}")
    # Answer complaints against me; settle my own complaints.
    answered = {from_wire(DkgAnswer, m["body"]).accuser for m in mine("answer")}
    answers = {(a.accused, a.accuser): a for a in (from_wire(DkgAnswer, m["body"]) for m in by_kind.get("answer", []))}
    for m in by_kind.get("complaint", []):
        complaint = from_wire(DkgComplaint, m["body"])
        if complaint.accused == me and complaint.accuser not in answered:
            await post_message(api, ceremony_id, "answer", to_wire(dkg.answer_complaint(params, secret, keys, complaint)))
            result.actions.append(f"answered member {complaint.accuser}'s complaint")
        if complaint.accuser == me and (complaint.accused, me) in answers:
            shares[complaint.accused] = dkg.judge_complaint(
                params, commitments[complaint.accused], complaint, answers[(complaint.accused, me)]
            )
    missing = [i for i in params.indices if i not in shares]
    if missing:
        result.waiting_for = f"shares (or complaint answers) from member(s) {', '.join(map(str, missing))}"
        return result
    # Finish: own share, the record, and my signature on its directory entry.
    outcome = dkg.finish(params, me, list(commitments.values()), shares)
    if not mine("epoch-signature"):
        signature = sign_payload("council-epoch", payload_for("council-epoch", record=outcome.record), keys)
        secrets[f"share:{outcome.record.epoch}"] = b64u_encode(outcome.share.encode())
        await post_message(
            api, ceremony_id, "epoch-signature", {"record": to_wire(outcome.record), "signature": to_wire(signature)}
        )
        result.actions.append(f"computed your key share and signed council epoch {outcome.record.epoch}")
    result.record = outcome.record
    after = await api.call("GET", "/v1/ceremonies/current")
    result.done = after["state"] == "done"
    if result.done:
        secrets.pop(prefix + "dealer", None)
    result.waiting_for = "" if result.done else "every member's signature on the council record"
    return result


def share_for(secrets: MutableMapping[str, str], epoch: int) -> Scalar | None:
    """This member's share of the council key for `epoch`, if it took part."""
    value = secrets.get(f"share:{epoch}")
    return Scalar(b64u_decode(value)) if value else None
