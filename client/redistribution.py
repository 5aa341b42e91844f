"""A member's side of a council membership change (protocol doc §6): new members post a share-encryption key;
dealing old members re-share their shares to those keys; new members check and combine theirs; everyone
involved signs the new epoch record (old members who leave can compute it from the public commitments).
Like ceremony_step: do what can be done now.

What the server says is checked, as in the key ceremony: the change must fit the council this device
verified, every participant must be the account the verified directory names, the member must accept the
plan, only signed messages count, and a share is erased only once the verified directory holds the new
council (with this member's new share checked against it), never on the server's word (hostile tests:
tests/hostile/test_ceremonies.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from client.api import Api, ApiError
from client.i18n import _
from client.mailbox import Mailbox, StepResult, erase_old_share, forget, post_message, share_for, sign_epoch
from client.plan import Confirm, check_participants, make_plan, settle
from keys import redistribute as rd
from keys.accounts import AccountKeys
from keys.ceremony import DealerSecret, DkgCommitment, DkgComplaint, DkgKey, DkgShare, check_commitment_signature, complain
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import ProtocolError
from keys.group import Point
from keys.wire import from_wire, to_wire


async def redistribution_step(
    api: Api,
    keys: AccountKeys,
    secrets: MutableMapping[str, Any],
    mailbox: dict[str, Any],
    ceremony_id: str,
    *,
    state: DirectoryState,
    directory: Callable[[], Awaitable[DirectoryState]],
    confirm: Confirm,
    known: Mapping[str, Any],
    save: Callable[[], None],
) -> StepResult:
    params = from_wire(rd.RedistParams, mailbox["params"])
    old = state.council_at(params.epoch - 1)
    if old is None:
        raise ProtocolError("this membership change is for a council this device's verified directory does not have")
    params.check_against(old)  # the council this device verified is the one being changed
    check_participants(params.participants, state, what="membership change")
    mine = keys.public().sign_key
    old_member = old.member_by_sign_key(mine)
    old_index = old_member.index if old_member is not None else None
    new_index = next((p.index for p in params.participants if p.sign_key == mine), None)
    if old_index is None and new_index is None:
        raise ProtocolError("this device is neither in the current council nor in the new one")
    plan = make_plan(
        kind="redistribute",
        epoch=params.epoch,
        threshold=params.threshold,
        participants=params.participants,
        me=mine,
        known=known,
        current=old,
        dealers=tuple(old.member(i).account for i in sorted(params.dealers)),
    )
    settle(secrets, ceremony_id, params.sid, plan, confirm)
    step = _Step(api, keys, secrets, save, ceremony_id, params, old, old_index, new_index)
    try:
        return await step.run(state, Mailbox(mailbox.get("messages", []), step.result), directory)
    except ApiError as exc:
        # refused as over (409): the last signature came from another member while this step ran. Done only if
        # the verified directory holds the change's record with this member's share; else the refusal stands
        if exc.status != 409:
            raise
        state = await directory()
        if not step.published(state):
            raise
        return step.finish(state)


class _Step:
    def __init__(
        self,
        api: Api,
        keys: AccountKeys,
        secrets: MutableMapping[str, Any],
        save: Callable[[], None],
        ceremony_id: str,
        params: rd.RedistParams,
        old: EpochRecord,
        old_index: int | None,
        new_index: int | None,
    ) -> None:
        self.api, self.keys, self.secrets, self.save = api, keys, secrets, save
        self.ceremony_id, self.params, self.old = ceremony_id, params, old
        self.old_index, self.new_index = old_index, new_index
        self.prefix = f"{ceremony_id}:"
        self.result = StepResult()

    def published(self, state: DirectoryState) -> bool:
        """The verified directory holds this change's record (and this member's new share checks against it)."""
        record = state.council_at(self.params.epoch)
        if record is None or record.origin != self.params.sid:
            return False
        if self.new_index is None:
            return True
        share = share_for(self.secrets, self.params.epoch)
        return share is not None and Point.base_mul(share) == record.share_key(self.new_index)

    def finish(self, state: DirectoryState) -> StepResult:
        forget(self.secrets, self.ceremony_id)
        if erase_old_share(self.secrets, state, self.old.epoch, self.keys):
            self.result.actions.append(_("erased your share of council epoch {epoch}: it is spent", epoch=self.old.epoch))
        self.result.done, self.result.record = True, state.council_at(self.params.epoch)
        return self.result

    async def send_kept(self, name: str) -> None:
        for item in self.secrets[self.prefix + name]:
            await post_message(self.api, self.ceremony_id, item["kind"], item["body"])

    async def run(self, state: DirectoryState, box: Mailbox, directory: Callable[[], Awaitable[DirectoryState]]) -> StepResult:
        params, old, result = self.params, self.old, self.result
        if self.published(state):
            return self.finish(state)
        # new members: a share-encryption key first, kept before it is sent
        if self.new_index is not None and self.prefix + "member" not in self.secrets:
            secret, message = rd.new_member_key(params, self.new_index, self.keys)
            self.secrets[self.prefix + "member"] = b64u_encode(secret.encode())
            self.secrets[self.prefix + "sent"] = [{"kind": "key", "body": to_wire(message)}]
            self.save()
        member_keys = {
            i: rd.check_member_key(params, m)
            for i, m in box.signed("key", DkgKey, lambda m: m.index, lambda m: _key_is_signed(params, m)).items()
        }
        if self.new_index is not None and self.new_index not in member_keys:
            await self.send_kept("sent")
            result.actions.append(_("posted your share-encryption key for the new council"))
        # dealers: re-share the old share once every new member's key is in
        if self.old_index is not None and self.old_index in params.dealers and self.prefix + "shares" not in self.secrets:
            waiting = [p.account for p in params.participants if p.index not in member_keys]
            if waiting:
                result.waiting_for = _("the share-encryption keys of {names}", names=", ".join(waiting))
                return result
            share = share_for(self.secrets, old.epoch)
            if share is None:
                raise ProtocolError(f"this device holds no share of council epoch {old.epoch}")
            polynomial, commitment = rd.redeal(params, old, self.old_index, share, self.keys)
            shares = rd.redeal_shares(params, old, self.old_index, polynomial, self.keys, member_keys)
            self.secrets[self.prefix + "shares"] = [
                {"kind": "commitment", "body": to_wire(commitment)},
                *({"kind": "share", "body": to_wire(s)} for s in shares),
            ]
            self.save()
        commitments = box.signed("commitment", DkgCommitment, lambda m: m.index, lambda m: _commitment_is_signed(params, old, m))
        if self.old_index in params.dealers and self.old_index not in commitments and self.prefix + "shares" in self.secrets:
            await self.send_kept("shares")
            result.actions.append(_("re-shared your share to the new council"))
        waiting = [old.member(i).account for i in params.dealers if i not in commitments]
        if waiting:
            result.waiting_for = _("the re-shared shares of {names}", names=", ".join(waiting))
            return result
        record = rd.expected_record(params, old, list(commitments.values()))
        combining = self.new_index is not None and share_for(self.secrets, params.epoch) is None
        if combining and not await self.combine(box, commitments, member_keys):
            return result
        result.record = record
        state = await directory()
        if self.published(state):
            return self.finish(state)
        if await sign_epoch(self.api, self.ceremony_id, self.keys, record, state, box):
            result.actions.append(_("signed council epoch {epoch} in the key directory", epoch=params.epoch))
            state = await directory()
            if self.published(state):
                return self.finish(state)
        result.waiting_for = _("the signatures of every new member and k current members on the new council record")
        return result

    async def combine(self, box: Mailbox, commitments: dict[int, DkgCommitment], member_keys: dict[int, Point]) -> bool:
        """A new member: take the first share each dealer signed for it, complain about a bad one, and combine.
        Returns False while shares are missing; raises ProtocolError naming a member proven dishonest."""
        params, old = self.params, self.old
        assert self.new_index is not None
        secret = DealerSecret.decode(b64u_decode(self.secrets[self.prefix + "member"]))
        own_key = member_keys[self.new_index]
        if Point.base_mul(secret.key) != own_key:
            raise ProtocolError("the server shows a share-encryption key for you that this device did not make")
        received = box.signed("share", DkgShare, lambda m: (m.sender, m.recipient), lambda m: rd.share_is_signed(params, old, m))
        complaints = box.parsed("complaint", DkgComplaint)
        shares = {}
        for dealer in params.dealers:
            message = received.get((dealer, self.new_index))
            if message is None:
                continue
            try:
                shares[dealer] = rd.receive_reshare(params, old, secret, own_key, commitments[dealer], message)
            except ProtocolError:
                complaint = complain(params.sid, self.keys, secret, message)
                await post_message(self.api, self.ceremony_id, "complaint", to_wire(complaint))
                complaints.append(complaint)
        for complaint in complaints:
            try:
                dealer_guilty = rd.judge(params, old, complaint, commitments, member_keys)
            except ProtocolError:
                continue  # proves nothing: the relay's
            who = old.member(complaint.accused).account if dealer_guilty else params.participant(complaint.accuser).account
            raise ProtocolError(f"{who} is proven to have cheated in the membership change; it must be opened again without them")
        missing = [old.member(i).account for i in params.dealers if i not in shares]
        if missing:
            self.result.waiting_for = _("shares from {names}", names=", ".join(missing))
            return False
        outcome = rd.finish_redistribution(params, old, self.new_index, list(commitments.values()), shares)
        self.secrets[f"share:{params.epoch}"] = b64u_encode(outcome.share.encode())
        self.save()
        self.result.actions.append(_("computed your share of council epoch {epoch}", epoch=params.epoch))
        return True


def _key_is_signed(params: rd.RedistParams, message: DkgKey) -> bool:
    try:
        rd.check_member_key(params, message)
    except ProtocolError:
        return False
    return True


def _commitment_is_signed(params: rd.RedistParams, old: EpochRecord, message: DkgCommitment) -> bool:
    """Signed by the dealer it names for this session (what it commits to is checked by expected_record, which
    names a dealer who signed something wrong)."""
    if message.index not in params.dealers:
        return False
    try:
        check_commitment_signature(params.sid, message, old.member(message.index).sign_key)
    except ProtocolError:
        return False
    return True
