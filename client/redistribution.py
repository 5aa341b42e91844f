"""A member's side of a council membership change (protocol doc §2.8): dealing old members re-share their
shares; new members check and combine theirs; everyone involved signs the new epoch record (old members who
leave can compute it from the public commitments). Like ceremony_step: do what can be done now."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from client.api import Api
from client.ceremony import StepResult, post_message, share_for
from keys import redistribute as rd
from keys.accounts import AccountKeys
from keys.ceremony import DkgCommitment, DkgShare
from keys.council import EpochRecord
from keys.directory import payload_for, sign_payload
from keys.encoding import b64u_encode
from keys.errors import ProtocolError
from keys.wire import from_wire, to_wire


async def redistribution_step(
    api: Api, keys: AccountKeys, secrets: MutableMapping[str, str], mailbox: dict[str, Any], ceremony_id: str, old: EpochRecord
) -> StepResult:
    result = StepResult()
    params = from_wire(rd.RedistParams, mailbox["params"])
    if mailbox["state"] != "running":
        secrets.pop(f"{ceremony_id}:dealer", None)
        secrets.pop(f"share:{params.epoch - 1}", None)  # the old share is spent: erase it (doc §2.8 step 3)
        result.done = True
        return result
    params.check_against(old)  # the council this device verified is the one being changed
    old_index, new_index = mailbox["old_index"], mailbox["new_index"]
    prefix = f"{ceremony_id}:"
    messages = mailbox["messages"]

    def posted(kind: str, sender: int | None) -> bool:
        return sender is not None and any(m["kind"] == kind and m["sender"] == sender for m in messages)

    # dealers: re-share the old share
    if old_index is not None and old_index in params.dealers and not posted("commitment", old_index):
        share = share_for(secrets, old.epoch)
        if share is None:
            raise ProtocolError(f"this device holds no share of council epoch {old.epoch}")
        secret, commitment = rd.redeal(params, old, old_index, share)
        secrets[prefix + "dealer"] = b64u_encode(secret.encode())
        await post_message(api, ceremony_id, "commitment", to_wire(commitment))
        for boxed in rd.redeal_shares(params, old, secret, keys):
            await post_message(api, ceremony_id, "share", to_wire(boxed))
        result.actions.append("re-shared your share to the new council")
    commitments = [from_wire(DkgCommitment, m["body"]) for m in messages if m["kind"] == "commitment"]
    waiting = [i for i in params.dealers if i not in {c.index for c in commitments}]
    if waiting:
        result.waiting_for = f"commitments from dealer(s) {', '.join(map(str, waiting))}"
        return result
    record: EpochRecord = rd.expected_record(params, old, commitments)
    if new_index is not None and f"share:{params.epoch}" not in secrets:
        by_dealer = {c.index: c for c in commitments}
        shares = {}
        for m in messages:
            if m["kind"] == "share" and m["body"]["recipient"] == new_index:
                boxed = from_wire(DkgShare, m["body"])
                shares[boxed.sender] = rd.receive_reshare(params, old, new_index, keys, by_dealer[boxed.sender], boxed)
        missing = [i for i in params.dealers if i not in shares]
        if missing:
            result.waiting_for = f"shares from dealer(s) {', '.join(map(str, missing))}"
            return result
        outcome = rd.finish_redistribution(params, old, new_index, commitments, shares)
        secrets[f"share:{params.epoch}"] = b64u_encode(outcome.share.encode())
        result.actions.append(f"computed your share of council epoch {params.epoch}")
    slot = new_index if new_index is not None else 1000 + (old_index or 0)
    if not posted("epoch-signature", slot):
        signature = sign_payload("council-epoch", payload_for("council-epoch", record=record), keys)
        await post_message(api, ceremony_id, "epoch-signature", {"record": to_wire(record), "signature": to_wire(signature)})
        result.actions.append(f"signed council epoch {params.epoch}")
    after = await api.call("GET", "/v1/ceremonies/current")
    result.done = after["state"] == "done"
    result.record = record
    if result.done:
        secrets.pop(prefix + "dealer", None)
        secrets.pop(f"share:{old.epoch}", None)  # the old share is spent: erase it (verify-before-discard: done = all signed)
    else:
        result.waiting_for = "the signatures of every new member and k current members on the new council record"
    return result
