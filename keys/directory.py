"""The key directory: an append-only, hash-chained list of signed entries (protocol doc §5).

`h_n = KDF32(log; h_{n−1}, entry_n)` and every entry carries the signatures its kind requires:

| kind | payload | signed by |
|---|---|---|
| `server-key` | the server's signing key | the new key, and the previous server key (none for the genesis entry) |
| `account-added` | account, role, public keys | the account itself, and an active administrator |
|  |  | (the server key, for the first administrator only) |
| `account-rotated` | account, new public keys | the new keys, and the account's current key |
| `account-revoked` | account | an active administrator, or the account itself |
| `council-epoch` | an `EpochRecord` | every new member, and k members of the previous epoch (none for the first) |
| `token-key` | a `TokenPublicKey` (token epoch, key) | the current server key; token epochs only grow |

So neither an administrator nor the server can add a reader: changing who holds council shares needs the
current council's k signatures. Every signature covers the entry's position (its sequence number and the
previous head) as well as its kind and payload, so genuine entries cannot be re-chained into another history
after one is dropped (version 2 entries; version 1 entries, whose signatures covered kind and payload only,
are read only before the first version 2 entry). Clients replay the chain from their pinned head with
`apply_entries` and refuse forks, rollbacks and missing signatures (DirectoryError). The server signs
checkpoints of the head; council members cosign heads as witnesses (witness.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Final

from keys.accounts import AccountKeys, AccountPublic, verify_signature
from keys.council import CouncilMember, EpochRecord, EpochSignature
from keys.encoding import b64u_decode, b64u_encode, canonical_json, lp, parse_json, u64
from keys.errors import DirectoryError, EncodingError, ProofError, TesseraError
from keys.hashing import TAG_LOG, TAG_LOG_SIG, kdf32
from keys.invites import ROLES, SERVER_ISSUER, Grant, check_account_name, verify_grant
from keys.tokens import TokenPublicKey
from keys.wire import encode_json, from_wire, require_len, require_version, to_wire

GENESIS_PREV: Final = bytes(32)
KINDS: Final = ("server-key", "account-added", "account-rotated", "account-revoked", "council-epoch", "token-key")
TOKEN_EPOCH_DAYS: Final = 7  # an anonymous-submission token key serves one such period (protocol doc §10.6)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryEntry:
    VERSION: ClassVar[int] = 2
    LEGACY: ClassVar[int] = 1  # signatures over kind and payload only; accepted before the first version 2 entry
    v: int
    seq: int
    prev: bytes
    kind: str
    payload: bytes  # canonical JSON of the kind's payload
    day: int
    signatures: tuple[EpochSignature, ...]

    def __post_init__(self) -> None:
        if self.v != self.LEGACY:
            require_version(self)
        require_len("prev", self.prev, 32)
        if self.kind not in KINDS:
            raise EncodingError(f"unknown directory entry kind {self.kind!r}")
        u64(self.seq)
        u64(self.day)

    def hash(self) -> bytes:
        return kdf32(TAG_LOG, self.prev, encode_json(self))

    def signed_message(self) -> bytes:
        if self.v == self.LEGACY:
            return lp(self.kind.encode()) + self.payload
        return entry_message(self.kind, self.payload, seq=self.seq, prev=self.prev, day=self.day)

    def body(self) -> dict[str, Any]:
        data = parse_json(self.payload, what=f"directory entry {self.seq}")
        if not isinstance(data, dict):
            raise EncodingError(f"directory entry {self.seq}: payload must be an object")
        return data


def entry_message(kind: str, payload: bytes, *, seq: int, prev: bytes, day: int) -> bytes:
    """What signers of an entry sign: `LP(kind) ‖ u64(seq) ‖ prev ‖ u64(day) ‖ payload` (protocol doc §7).

    Signing the position means a signer fetches the verified directory first and signs for its next entry;
    if another entry lands first, the server answers that the directory moved and the signer signs again.
    Signing the day (the signer's own today) means the server cannot date an entry: the witnesses' rule takes
    the council's age from its entry's day.
    """
    if kind not in KINDS:
        raise EncodingError(f"unknown directory entry kind {kind!r}")
    require_len("prev", prev, 32)
    return lp(kind.encode()) + u64(seq) + prev + u64(day) + payload


def sign_entry(
    kind: str, payload: Mapping[str, Any], keys: AccountKeys, *, seq: int, prev: bytes, day: int
) -> EpochSignature:
    """One signer's signature over an entry's kind, position, day and payload."""
    message = entry_message(kind, canonical_json(dict(payload)), seq=seq, prev=prev, day=day)
    return EpochSignature(signer=keys.public().sign_key, signature=keys.sign(TAG_LOG_SIG, message))


def sign_next(
    kind: str, payload: Mapping[str, Any], keys: AccountKeys, state: DirectoryState, *, day: int
) -> EpochSignature:
    """A signature for the entry that would follow `state` (the signer's verified directory), dated `day` (the
    signer's today)."""
    return sign_entry(kind, payload, keys, seq=state.seq + 1, prev=state.head, day=day)


def make_entry(
    *,
    seq: int,
    prev: bytes,
    kind: str,
    payload: Mapping[str, Any],
    day: int,
    signers: Iterable[AccountKeys] = (),
    signatures: Iterable[EpochSignature] = (),
) -> DirectoryEntry:
    """Build an entry from signatures made earlier (for this position) and/or by `signers` now."""
    sigs = (*signatures, *(sign_entry(kind, payload, k, seq=seq, prev=prev, day=day) for k in signers))
    return DirectoryEntry(v=2, seq=seq, prev=prev, kind=kind, payload=canonical_json(dict(payload)), day=day, signatures=sigs)


def add_signature(entry: DirectoryEntry, keys: AccountKeys) -> DirectoryEntry:
    """Add one more signature (council members sign an epoch entry one after another)."""
    sig = EpochSignature(signer=keys.public().sign_key, signature=keys.sign(TAG_LOG_SIG, entry.signed_message()))
    return replace(entry, signatures=(*entry.signatures, sig))


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountState:
    account: str
    role: str
    keys: AccountPublic
    revoked: bool = False
    retired: tuple[bytes, ...] = ()  # earlier signing keys: what this account signed before a rotation

    def signed_with(self, sign_key: bytes) -> bool:
        """True if `sign_key` is this account's current or an earlier signing key."""
        return sign_key == self.keys.sign_key or sign_key in self.retired


class _Heads:
    """The head after every entry, shared by the states of one chain: a state reads only its first seq + 1
    items, and an append to a state that is not the last one copies first (a candidate entry the server
    tries, a client replaying twice), so a longer chain never shows through an earlier state."""

    __slots__ = ("items",)

    def __init__(self, items: list[bytes] | None = None) -> None:
        self.items: list[bytes] = items if items is not None else []

    def after(self, seq: int, head: bytes) -> _Heads:
        """The heads of a chain that has `head` at `seq`, given this chain up to seq − 1."""
        if len(self.items) == seq:
            self.items.append(head)
            return self
        return _Heads([*self.items[:seq], head])


@dataclass(frozen=True, kw_only=True)
class DirectoryState:
    """What the chain says after its entry `seq` (−1: nothing applied)."""

    seq: int = -1
    head: bytes = GENESIS_PREV
    day: int = 0  # the last entry's day: days never go backwards
    positional: bool = False  # a version 2 entry was applied: no version 1 entry may follow
    _heads: _Heads = field(default_factory=_Heads, repr=False, compare=False)
    server_keys: tuple[tuple[int, bytes], ...] = ()  # (from seq, key)
    accounts: Mapping[str, AccountState] = field(default_factory=dict)
    council: EpochRecord | None = None
    council_day: int = 0  # the day of the entry that made the current council
    earlier_councils: Mapping[int, EpochRecord] = field(default_factory=dict)  # by epoch
    token_keys: Mapping[int, TokenPublicKey] = field(default_factory=dict)  # by token epoch (protocol doc §10.6)

    @property
    def server_key(self) -> bytes | None:
        return self.server_keys[-1][1] if self.server_keys else None

    def council_at(self, epoch: int) -> EpochRecord | None:
        """The council record of `epoch`, current or earlier; None if the directory has no such epoch."""
        if self.council is not None and self.council.epoch == epoch:
            return self.council
        return self.earlier_councils.get(epoch)

    def active(self, account: str) -> AccountState | None:
        state = self.accounts.get(account)
        return state if state is not None and not state.revoked else None

    def account_by_sign_key(self, sign_key: bytes) -> AccountState | None:
        return next((a for a in self.accounts.values() if a.keys.sign_key == sign_key and not a.revoked), None)

    def active_members(self, record: EpochRecord) -> tuple[CouncilMember, ...]:
        """The members of `record` whose accounts are active here (not revoked): who may act for the council,
        and who is given new case keys and messages. A revoked member stays in the record until the next
        membership change, but its keys (on a lost or seized device) are no longer believed or given anything."""
        return tuple(m for m in record.members if self.active(m.account) is not None)

    def token_key(self, token_epoch: int) -> TokenPublicKey | None:
        """The anonymous-submission token key this directory publishes for `token_epoch` (day // 7), if any."""
        return self.token_keys.get(token_epoch)

    def grant_issuer_key(self, grant: Grant) -> bytes | None:
        """The key that must have signed `grant`: an active administrator's, or the server key for the
        organisation's first administrator (while there is none); None when its issuer may not invite."""
        if grant.issuer == SERVER_ISSUER:
            has_admin = any(a.role == "admin" and not a.revoked for a in self.accounts.values())
            return self.server_key if not has_admin and grant.role == "admin" else None
        issuer = self.active(grant.issuer)
        return issuer.keys.sign_key if issuer is not None and issuer.role == "admin" else None

    def head_at(self, seq: int) -> bytes | None:
        """The chain's head after entry `seq`; None beyond this state's end."""
        return self._heads.items[seq] if 0 <= seq <= self.seq else None

    def check_head(self, seq: int, head: bytes, *, who: str) -> None:
        """Cross-check a head that someone else saw (`who`: "the helper who wrote this case", "member kim"):
        it travels signed inside intakes and votes. Raises DirectoryError when it is not a head of this chain
        (the server showed that person another history: a fork), or lies beyond this chain's end (the server
        hides entries from this device)."""
        mine = self.head_at(seq)
        if seq > self.seq:
            raise DirectoryError(
                f"{who} saw the key directory up to entry {seq}, but the server shows this device only up to "
                f"{self.seq}: the server is hiding entries from you or forked the directory"
            )
        if mine is None or not hmac.compare_digest(mine, head):
            raise DirectoryError(
                f"{who} saw a different key directory at entry {seq} than this device: the server forked it "
                "(shows different people different histories)"
            )


def _signers(entry: DirectoryEntry) -> set[bytes]:
    """The distinct keys with a valid signature on the entry; a bad signature fails the whole entry."""
    message = entry.signed_message()
    good = set()
    for sig in entry.signatures:
        try:
            verify_signature(sig.signer, TAG_LOG_SIG, message, sig.signature)
        except ProofError as exc:
            raise DirectoryError(f"entry {entry.seq}: a signature does not verify") from exc
        good.add(sig.signer)
    return good


def _public(body: Mapping[str, Any]) -> AccountPublic:
    return from_wire(_AccountKeysWire, {"v": 1, "sign_key": body.get("sign_key"), "box_key": body.get("box_key")}).public()


@dataclass(frozen=True, slots=True, kw_only=True)
class _AccountKeysWire:
    VERSION: ClassVar[int] = 1
    v: int
    sign_key: bytes
    box_key: bytes

    def public(self) -> AccountPublic:
        return AccountPublic(sign_key=self.sign_key, box_key=self.box_key)


def apply_entry(state: DirectoryState, entry: DirectoryEntry) -> DirectoryState:
    """Check one entry against the state (sequence, chain, kind rules, signatures) and apply it.

    Raises DirectoryError saying what is wrong; the state passed in is left unchanged.
    """
    if entry.seq != state.seq + 1:
        raise DirectoryError(f"entry {entry.seq} out of order: expected {state.seq + 1}")
    if entry.v == DirectoryEntry.LEGACY and state.positional:
        raise DirectoryError(f"entry {entry.seq} is of the old format after a new one: the history was rewritten")
    if entry.day < state.day:
        raise DirectoryError(f"entry {entry.seq} is dated day {entry.day}, before the entry it follows (day {state.day})")
    if not hmac.compare_digest(entry.prev, state.head):
        raise DirectoryError(f"entry {entry.seq} does not chain from the previous head (history was rewritten or forked)")
    try:
        body = entry.body()
        new = _APPLY[entry.kind](state, entry, body, _signers(entry))
    except DirectoryError:
        raise
    except TesseraError as exc:
        raise DirectoryError(f"entry {entry.seq} ({entry.kind}) is malformed: {exc}") from exc
    head = entry.hash()
    positional = state.positional or entry.v != DirectoryEntry.LEGACY
    return replace(
        new, seq=entry.seq, head=head, day=entry.day, positional=positional, _heads=state._heads.after(entry.seq, head)
    )


def _apply_server_key(
    state: DirectoryState, entry: DirectoryEntry, body: Mapping[str, Any], signers: set[bytes]
) -> DirectoryState:
    key = body.get("sign_key")
    if not isinstance(key, str):
        raise DirectoryError(f"entry {entry.seq}: server-key needs sign_key")
    new_key = b64u_decode(key, length=32, what="sign_key")
    required = {new_key} | ({state.server_key} if state.server_key else set())
    if not required <= signers:
        raise DirectoryError(f"entry {entry.seq}: server key change not signed by the new and the previous server key")
    return replace(state, server_keys=(*state.server_keys, (entry.seq, new_key)))


def _require_account_fields(body: Mapping[str, Any], seq: int) -> str:
    account = body.get("account")
    if not isinstance(account, str):
        raise DirectoryError(f"entry {seq}: account id missing")
    return check_account_name(account)


def _is_admin_signed(state: DirectoryState, signers: set[bytes]) -> bool:
    """True if an active administrator signed (revocations)."""
    return any(a.role == "admin" and not a.revoked and a.keys.sign_key in signers for a in state.accounts.values())


def _apply_account_added(
    state: DirectoryState, entry: DirectoryEntry, body: Mapping[str, Any], signers: set[bytes]
) -> DirectoryState:
    account = _require_account_fields(body, entry.seq)
    role = body.get("role")
    if role not in ROLES:
        raise DirectoryError(f"entry {entry.seq}: unknown role {role!r}")
    if account in state.accounts:
        raise DirectoryError(f"entry {entry.seq}: account {account} exists already")
    public = _public(body)
    if public.sign_key not in signers:
        raise DirectoryError(f"entry {entry.seq}: new account did not sign (no proof of possession)")
    grant = from_wire(Grant, body.get("grant"))
    if (grant.account, grant.role) != (account, role):
        raise DirectoryError(f"entry {entry.seq}: the invite was for another account or role")
    issuer_key = state.grant_issuer_key(grant)
    if issuer_key is None:
        raise DirectoryError(f"entry {entry.seq}: account {account} was not invited by an active administrator")
    try:
        verify_grant(grant, issuer_key)
    except ProofError as exc:
        raise DirectoryError(f"entry {entry.seq}: the invite of {account} is not signed by its issuer") from exc
    accounts = {**state.accounts, account: AccountState(account=account, role=str(role), keys=public)}
    return replace(state, accounts=accounts)


def _apply_account_rotated(
    state: DirectoryState, entry: DirectoryEntry, body: Mapping[str, Any], signers: set[bytes]
) -> DirectoryState:
    account = _require_account_fields(body, entry.seq)
    current = state.active(account)
    if current is None:
        raise DirectoryError(f"entry {entry.seq}: account {account} is unknown or revoked")
    public = _public(body)
    if not {current.keys.sign_key, public.sign_key} <= signers:
        raise DirectoryError(f"entry {entry.seq}: key rotation must be signed by the old and the new key")
    if public.sign_key == current.keys.sign_key or public.sign_key in current.retired:
        raise DirectoryError(f"entry {entry.seq}: a rotation must bring a new signing key")
    rotated = replace(current, keys=public, retired=(*current.retired, current.keys.sign_key))
    return replace(state, accounts={**state.accounts, account: rotated})


def _apply_account_revoked(
    state: DirectoryState, entry: DirectoryEntry, body: Mapping[str, Any], signers: set[bytes]
) -> DirectoryState:
    account = _require_account_fields(body, entry.seq)
    current = state.active(account)
    if current is None:
        raise DirectoryError(f"entry {entry.seq}: account {account} is unknown or already revoked")
    if not (_is_admin_signed(state, signers) or current.keys.sign_key in signers):
        raise DirectoryError(f"entry {entry.seq}: revocation not signed by an administrator or the account")
    return replace(state, accounts={**state.accounts, account: replace(current, revoked=True)})


def _apply_council_epoch(
    state: DirectoryState, entry: DirectoryEntry, body: Mapping[str, Any], signers: set[bytes]
) -> DirectoryState:
    record = from_wire(EpochRecord, body)
    previous = state.council
    if previous is not None and record.epoch <= previous.epoch:
        raise DirectoryError(f"entry {entry.seq}: council epoch {record.epoch} does not follow {previous.epoch}")
    for m in record.members:
        acct = state.active(m.account)
        if acct is None or acct.role != "council" or acct.keys.sign_key != m.sign_key or acct.keys.box_key != m.box_key:
            raise DirectoryError(f"entry {entry.seq}: member {m.index} is not an active council account with these keys")
        if m.sign_key not in signers:
            raise DirectoryError(f"entry {entry.seq}: new member {m.index} ({m.account}) did not sign the epoch")
    if previous is not None:
        approving = set()
        for m in previous.members:
            acct = state.active(m.account)
            keys = {m.sign_key} | ({acct.keys.sign_key} if acct else set())
            if acct is not None and keys & signers:
                approving.add(m.account)
        if len(approving) < previous.threshold:
            raise DirectoryError(
                f"entry {entry.seq}: council change signed by {len(approving)} current member(s); {previous.threshold} needed"
            )
    earlier = {**state.earlier_councils, previous.epoch: previous} if previous is not None else dict(state.earlier_councils)
    return replace(state, council=record, council_day=entry.day, earlier_councils=earlier)


def _apply_token_key(
    state: DirectoryState, entry: DirectoryEntry, body: Mapping[str, Any], signers: set[bytes]
) -> DirectoryState:
    key = from_wire(TokenPublicKey, body)
    if state.server_key is None or state.server_key not in signers:
        raise DirectoryError(f"entry {entry.seq}: a token key must be signed by the current server key")
    if state.token_keys and key.epoch <= max(state.token_keys):
        raise DirectoryError(f"entry {entry.seq}: token epoch {key.epoch} does not follow {max(state.token_keys)}")
    return replace(state, token_keys={**state.token_keys, key.epoch: key})


_APPLY = {
    "server-key": _apply_server_key,
    "account-added": _apply_account_added,
    "account-rotated": _apply_account_rotated,
    "account-revoked": _apply_account_revoked,
    "council-epoch": _apply_council_epoch,
    "token-key": _apply_token_key,
}


def apply_entries(state: DirectoryState, entries: Iterable[DirectoryEntry]) -> DirectoryState:
    """Apply entries in order; raises DirectoryError at the first one that does not verify."""
    for entry in entries:
        state = apply_entry(state, entry)
    return state


def replay_to_pin(entries: Iterable[DirectoryEntry], *, pinned_seq: int, pinned_head: bytes) -> DirectoryState:
    """Replay from genesis and insist that entry `pinned_seq` hashes to `pinned_head` (the pin from the
    invite or from the last session). Raises DirectoryError on a fork or rollback."""
    state = DirectoryState()
    for entry in entries:
        state = apply_entry(state, entry)
        if state.seq == pinned_seq and not hmac.compare_digest(state.head, pinned_head):
            raise DirectoryError(
                f"directory differs from your pinned head at entry {pinned_seq}: the server forked or rewrote it"
            )
    if state.seq < pinned_seq:
        raise DirectoryError(f"directory ends at entry {state.seq}, before your pinned entry {pinned_seq}: rolled back")
    return state


def payload_for(
    kind: str,
    *,
    grant: Grant | None = None,
    account: str | None = None,
    role: str | None = None,
    keys: AccountPublic | None = None,
    record: EpochRecord | None = None,
    server_key: bytes | None = None,
    token_key: TokenPublicKey | None = None,
) -> dict[str, Any]:
    """The payload object of an entry of `kind` (what `make_entry` takes)."""
    if kind == "council-epoch" and record is not None:
        return to_wire(record)
    if kind == "token-key" and token_key is not None:
        return to_wire(token_key)
    if kind == "server-key" and server_key is not None:
        return {"sign_key": b64u_encode(server_key)}
    payload: dict[str, Any] = {}
    if account is not None:
        payload["account"] = account
    if role is not None:
        payload["role"] = role
    if keys is not None:
        payload["sign_key"] = b64u_encode(keys.sign_key)
        payload["box_key"] = b64u_encode(keys.box_key)
    if grant is not None:
        payload["grant"] = to_wire(grant)
    return payload
