"""A council member's side of the key ceremony (protocol doc §3): look at the mailbox, do what can be done now,
and say what happened. Run it again until the ceremony is done (`tessera council ceremony step`).

Nothing the server says is believed: the participants are checked against the verified key directory and
shown to the member, who must accept them (plan.py); only messages their author signed count (mailbox.py);
a bad share is proven by a complaint that publishes no secret (keys/ceremony.py); the ceremony is done when
the verified directory holds the new council record with this member's share in it, whatever the server
says. `secrets` is the member's private state between steps (the caller keeps it in the keystore). Nothing
here prints or touches files.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from client.api import Api, ApiError
from client.directory import from_genesis
from client.i18n import _
from client.mailbox import Mailbox, StepResult, forget, post_message, share_for, sign_epoch
from client.plan import Confirm, accept_all, check_participants, make_plan, settle
from client.redistribution import redistribution_step
from keys import dkg
from keys.accounts import AccountKeys
from keys.ceremony import DealerSecret, DkgCommitment, DkgComplaint, DkgEcho, DkgKey, DkgShare, complain
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import ProtocolError
from keys.group import Point, Scalar
from keys.wire import from_wire, to_wire

Directory = Callable[[], Awaitable[DirectoryState]]

__all__ = ["Directory", "StepResult", "ceremony_step", "share_for", "step_member"]


async def open_ceremony(api: Api, *, threshold: int, members: list[str]) -> dict[str, Any]:
    """An administrator opens the council's key ceremony for `members` with `threshold`: the first one, or a
    re-key of a working council (the answer's `kind` says which). Returns the server's answer (OpenedCeremony)."""
    return await api.open_ceremony(threshold=threshold, members=members)


async def ceremony_step(
    api: Api,
    keys: AccountKeys,
    secrets: MutableMapping[str, Any],
    *,
    directory: Directory,
    confirm: Confirm,
    known: Mapping[str, Any] | None = None,
    save: Callable[[], None] = lambda: None,
) -> StepResult:
    """Do everything this member can do now in the running ceremony: the council's key ceremony, a re-key, or
    a membership change. `directory()` fetches and verifies the key directory; `known` holds the people this
    member verified in person (`tessera verify NAME --accept`); `confirm` is asked once per ceremony; `save()`
    makes `secrets` durable and is called before anything that depends on them is sent."""
    state = await directory()
    status = await api.ceremony_status()
    ceremony_id = str(status["ceremony_id"])
    mailbox = await api.ceremony_messages(ceremony_id, after=0)
    if mailbox.get("kind") == "redistribute":
        return await redistribution_step(
            api,
            keys,
            secrets,
            mailbox,
            ceremony_id,
            state=state,
            directory=directory,
            confirm=confirm,
            known=known or {},
            save=save,
        )
    params = from_wire(dkg.DkgParams, mailbox["params"])
    me = _my_index(params, keys)
    check_participants(params.participants, state, what="key ceremony")
    kind = "rekey" if state.council is not None else "dkg"
    plan = make_plan(
        kind=kind,
        epoch=params.epoch,
        threshold=params.threshold,
        participants=params.participants,
        me=keys.public().sign_key,
        known=known or {},
        current=state.council,
    )
    settle(secrets, ceremony_id, params.sid, plan, confirm)
    try:
        return await _step(api, keys, secrets, save, ceremony_id, params, me, mailbox, state, directory)
    except ApiError as exc:
        # refused as over (409, "this ceremony is done"): the last member's signature came while this step ran
        # on a directory read before it. Done only if the verified directory now holds this ceremony's record
        # with this member's share (a server's word alone is not enough); else the refusal stands
        if exc.status != 409:
            raise
        state = await directory()
        if not _published(state, params, me, secrets):
            raise
        forget(secrets, ceremony_id)
        result = StepResult()
        result.done, result.record = True, state.council_at(params.epoch)
        return result


def _my_index(params: dkg.DkgParams, keys: AccountKeys) -> int:
    mine = keys.public().sign_key
    for p in params.participants:
        if p.sign_key == mine:
            return p.index
    raise ProtocolError("this device is not a participant of the running ceremony")


def _published(state: DirectoryState, params: dkg.DkgParams, me: int, secrets: MutableMapping[str, Any]) -> bool:
    """True when the verified directory holds this ceremony's record with this member's share in it."""
    record = state.council_at(params.epoch)
    share = share_for(secrets, params.epoch)
    if record is None or share is None or record.origin != params.sid:
        return False
    return Point.base_mul(share) == record.share_key(me)


async def _step(
    api: Api,
    keys: AccountKeys,
    secrets: MutableMapping[str, Any],
    save: Callable[[], None],
    ceremony_id: str,
    params: dkg.DkgParams,
    me: int,
    raw: dict[str, Any],
    state: DirectoryState,
    directory: Directory,
) -> StepResult:
    result = StepResult()
    prefix = f"{ceremony_id}:"
    if _published(state, params, me, secrets):
        forget(secrets, ceremony_id)  # the polynomial and the share-encryption key are no longer needed
        result.done, result.record = True, state.council_at(params.epoch)
        return result
    box = Mailbox(raw.get("messages", []), result)
    # Round 1: signed commitments and share-encryption keys, kept before they are sent (a retry sends the same).
    if prefix + "dealer" not in secrets:
        secret, commitment, key = dkg.deal(params, me, keys)
        secrets[prefix + "dealer"] = b64u_encode(secret.encode())
        secrets[prefix + "sent"] = [{"kind": "commitment", "body": to_wire(commitment)}, {"kind": "key", "body": to_wire(key)}]
        save()
    secret = DealerSecret.decode(b64u_decode(secrets[prefix + "dealer"]))
    commitments = box.signed("commitment", DkgCommitment, lambda m: m.index, lambda m: dkg.signed_by_author(params, m))
    enc = box.signed("key", DkgKey, lambda m: m.index, lambda m: dkg.signed_by_author(params, m))
    if me not in commitments or me not in enc:
        await _send_kept(api, ceremony_id, secrets[prefix + "sent"])
        result.actions.append(_("posted your commitments and your share-encryption key (round 1)"))
        result.waiting_for = _("the other members' round 1")
        return result
    missing = [i for i in params.indices if i not in commitments or i not in enc]
    if missing:
        result.waiting_for = _("round 1 from member(s) {names}", names=_names(params, missing))
        return result
    transcript, enc_keys = dkg.check_round1(params, list(commitments.values()), list(enc.values()))
    if Point.base_mul(secret.key) != enc_keys[me]:
        raise ProtocolError("the server shows a share-encryption key for you that this device did not make")
    # Echo: everyone signs the transcript they saw.
    echoes = box.parsed("echo", DkgEcho)
    if not any(e.index == me and dkg.echo_is_valid(params, e, transcript) for e in echoes):
        await post_message(api, ceremony_id, "echo", to_wire(dkg.echo(params, me, keys, transcript)))
        result.actions.append(_("confirmed the round-1 transcript"))
        return result
    try:
        dkg.check_echoes(params, transcript, echoes)
    except ProtocolError as exc:
        if "no signed echo yet" not in str(exc):
            raise
        result.waiting_for = _("every member's confirmation of round 1")
        return result
    # Round 2: shares.
    shares_from = box.signed("share", DkgShare, lambda m: (m.sender, m.recipient), lambda m: dkg.share_is_signed(params, m))
    if prefix + "shares" not in secrets:
        dealt = dkg.deal_shares(params, secret, keys, enc_keys)
        secrets[prefix + "shares"] = [{"kind": "share", "body": to_wire(m)} for m in dealt]
        save()
    if any((me, j) not in shares_from for j in params.indices if j != me):
        await _send_kept(api, ceremony_id, secrets[prefix + "shares"])
        result.actions.append(_("sent your encrypted shares to each member (round 2)"))
    assert secret.polynomial is not None
    shares: dict[int, Scalar] = {me: secret.polynomial.evaluate(me)}
    complaints = box.parsed("complaint", DkgComplaint)
    mine = {c.accused for c in complaints if c.accuser == me}
    for dealer in params.indices:
        message = shares_from.get((dealer, me))
        if dealer == me or message is None or dealer in mine:
            continue
        try:
            shares[dealer] = dkg.receive_share(params, secret, enc_keys[me], commitments[dealer], message)
        except ProtocolError:
            complaint = complain(params.sid, keys, secret, message)
            await post_message(api, ceremony_id, "complaint", to_wire(complaint))
            complaints.append(complaint)
            result.actions.append(_("proved that the share from {name} is bad", name=_names(params, [dealer])))
    _settle_complaints(params, complaints, commitments, enc_keys)
    missing = [i for i in params.indices if i not in shares]
    if missing:
        result.waiting_for = _("shares from {names}", names=_names(params, missing))
        return result
    # Finish: own share, the record, and my signature on its directory entry.
    outcome = dkg.finish(params, me, list(commitments.values()), shares)
    if share_for(secrets, params.epoch) is None:
        secrets[f"share:{params.epoch}"] = b64u_encode(outcome.share.encode())
        save()
        result.actions.append(_("computed your key share"))
    result.record = outcome.record
    state = await directory()
    if not _published(state, params, me, secrets) and await sign_epoch(api, ceremony_id, keys, outcome.record, state, box):
        result.actions.append(_("signed council epoch {epoch} in the key directory", epoch=outcome.record.epoch))
        state = await directory()
    if _published(state, params, me, secrets):
        forget(secrets, ceremony_id)
        result.done = True
    else:
        result.waiting_for = _("every member's signature on the council record")
    return result


async def _send_kept(api: Api, ceremony_id: str, kept: list[dict[str, Any]]) -> None:
    """Post messages made and kept earlier (the server stores each once; the same again is a no-op)."""
    for item in kept:
        await post_message(api, ceremony_id, item["kind"], item["body"])


def _settle_complaints(
    params: dkg.DkgParams, complaints: list[DkgComplaint], commitments: dict[int, DkgCommitment], enc_keys: dict[int, Point]
) -> None:
    """Judge every complaint; one that proves somebody dishonest stops the ceremony, naming them. A complaint
    that proves nothing (not signed by its accuser, a share its dealer did not sign) is the relay's: ignored."""
    for complaint in complaints:
        try:
            culprit = dkg.judge(params, complaint, commitments, enc_keys)
        except ProtocolError:
            continue
        raise ProtocolError(
            f"{_names(params, [culprit])} is proven to have cheated in the key ceremony; the administrator must start it "
            "again without them",
            culprits=[culprit],
        )


def _names(params: dkg.DkgParams, indices: list[int]) -> str:
    return ", ".join(params.participant(i).account for i in indices)


async def step_member(api: Api, keys: AccountKeys, secrets: dict[str, Any]) -> StepResult:
    """One ceremony step for a simulated member who accepts every plan (its directory verified from genesis)."""
    return await ceremony_step(api, keys, secrets, directory=from_genesis(api), confirm=accept_all)
