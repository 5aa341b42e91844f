"""Council members as witnesses of the key directory (protocol doc §7).

The server signs checkpoints of the directory's head, but a server in an attacker's hands signs whatever it
likes: it can show a helper a directory frozen before a re-key, or a history of its own making. So every
council member's client cosigns the head it verified (`cosign`), with the time, and everyone checks the
latest cosignatures the server stores (`check_witnesses`):

* a cosignature by a current council member on a head that is not in the reader's chain proves a fork, and
  one on an entry beyond the reader's end proves the server hides entries from the reader (DirectoryError);
* once the current council is older than `FRESHNESS` (by the day of its directory entry, which all its members
  signed at that position), the reader needs cosignatures by k distinct current members made within
  `FRESHNESS` of its own clock, so a server can hold a reader on an old directory for at most that long (it
  cannot show the cosignatures members made of later heads without the entries they cover).

A cosignature with a bad signature, an unknown signer, or a time in the future is not counted (the relay's
doing, or a member's wrong clock) and raises nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys.accounts import AccountKeys, verify_signature
from keys.directory import DirectoryState
from keys.encoding import u64
from keys.errors import DirectoryError, ProofError
from keys.hashing import TAG_COSIGN
from keys.wire import require_len, require_version, signing_bytes

DAY: Final = 86_400
FRESHNESS: Final = 7 * DAY  # the longest a server can hold a reader on an old directory
CLOCK_SKEW: Final = 10 * 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Cosignature:
    """A council member's signature on the directory head it verified at `seq`, at `time` (Unix seconds)."""

    VERSION: ClassVar[int] = 1
    v: int
    seq: int
    head: bytes
    time: int
    signer: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        u64(self.seq)
        u64(self.time)
        require_len("head", self.head, 32)
        require_len("signer", self.signer, 32)
        require_len("signature", self.signature, 64)


def cosign(state: DirectoryState, keys: AccountKeys, *, now: int) -> Cosignature:
    """Cosign the head of `state`. Warning: only a head this device verified itself (replayed from its pin)."""
    unsigned = Cosignature(v=1, seq=state.seq, head=state.head, time=now, signer=keys.public().sign_key, signature=bytes(64))
    return replace(unsigned, signature=keys.sign(TAG_COSIGN, signing_bytes(unsigned)))


def witness_of(state: DirectoryState, cosignature: Cosignature) -> str | None:
    """The current, active (not revoked) council member who made this cosignature (its signature checked), or None."""
    council = state.council
    if council is None:
        return None
    for member in council.members:
        account = state.active(member.account)
        if account is None:
            continue  # a revoked member's keys (perhaps on a seized device) vouch for nothing
        keys = {member.sign_key, account.keys.sign_key}
        if cosignature.signer in keys:
            try:
                verify_signature(cosignature.signer, TAG_COSIGN, signing_bytes(cosignature), cosignature.signature)
            except ProofError:
                return None
            return member.account
    return None


def check_witnesses(
    state: DirectoryState, cosignatures: Iterable[Cosignature], *, now: int, freshness: int = FRESHNESS
) -> set[str]:
    """The council members whose fresh cosignatures vouch for this chain. Raises DirectoryError on a fork, on
    hidden entries, or when fewer than k members cosigned within `freshness` (nothing is required before the
    first council exists, nor while the current council is itself younger than `freshness`)."""
    council = state.council
    if council is None:
        return set()
    fresh: set[str] = set()
    for c in cosignatures:
        member = witness_of(state, c)
        if member is None or c.time > now + CLOCK_SKEW:
            continue
        state.check_head(c.seq, c.head, who=f"council member {member}")
        if c.time >= now - freshness:
            fresh.add(member)
    new_council = now // DAY - state.council_day <= freshness // DAY
    if len(fresh) < council.threshold and not new_council:
        days = freshness // DAY
        raise DirectoryError(
            f"only {len(fresh)} council member(s) confirmed this key directory in the last {days} days, "
            f"{council.threshold} needed: it may be an old copy the server holds you on. Ask council members to run "
            "`tessera sync`, then try again"
        )
    return fresh
