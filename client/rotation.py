"""Rotating this device's keys (`tessera rotate-keys`, and the app's page for it): one library function both call.

The new key pair is kept in the keystore (`pending_keys`) before the server learns it, so an interruption loses
nothing; it replaces the current keys only once the key directory, verified from this device's pin, names it,
never on the server's word. An interrupted rotation is finished, or tried again with the same keys, on the next
run. An administrator's pending invites are signed again with the new keys. Hostile test:
tests/hostile/test_review_keys.py; end to end: tests/e2e/test_rotation.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from client.api import ApiError, HostileServerError
from client.directory import at_next_position, position, today
from client.enrol import resign_invites
from client.home import Home
from client.session import KeyChangedError, Session
from keys.accounts import AccountKeys, fingerprint
from keys.directory import DirectoryState, payload_for, sign_next
from keys.encoding import b64u_decode, b64u_encode
from keys.wire import to_wire


@dataclass(frozen=True)
class Rotated:
    """What a rotation did. `finished`: an interrupted rotation the verified directory already held was completed
    (nothing sent again); `directory_seq`: the key directory entry of the rotation sent now (None when finished);
    `resigned`: an administrator's pending invites signed again; `council`: the account is a council member (its
    new keys count there after the next membership change)."""

    account: str
    safety_number: str
    finished: bool
    directory_seq: int | None
    resigned: int
    council: bool


async def rotate_keys(session: Session, home: Home, *, on_retry: Callable[[], None] = lambda: None) -> Rotated:
    """Replace `home`'s keys (saved in its keystore). `on_retry` is called before an interrupted rotation is tried
    again with the same new keys. Raises HostileServerError when the server acknowledges the rotation but the
    directory it serves does not hold it (both key pairs stay), KeyChangedError when the directory names keys this
    device holds neither of."""
    api = session.api(home)
    pending = home.state.get("pending_keys")
    if pending is not None:  # an earlier run was interrupted: did the server take the new keys?
        new = AccountKeys(sign_seed=b64u_decode(pending["sign_seed"]), box_secret=b64u_decode(pending["box_secret"]))
        if await _rotation_done(session, home, new):
            before = home.keys.public().sign_key
            _promote(home, new)
            resigned = await _resign(session, home, before)
            return _result(home, finished=True, seq=None, resigned=resigned)
        on_retry()
    else:
        await session.directory(home, api)
        new = AccountKeys.generate()
        # keep the new keys before the server learns them, so an interruption loses nothing; they are deleted only
        # once the verified directory names them (promoted) or names other keys (see _rotation_done)
        home.state["pending_keys"] = {"sign_seed": b64u_encode(new.sign_seed), "box_secret": b64u_encode(new.box_secret)}
        home.save()
    old = home.keys
    payload = payload_for("account-rotated", account=home.account, keys=new.public())
    public = new.public()

    async def post(state: DirectoryState) -> Any:
        day = today()
        body = {
            "v": 2,
            "sign_key": b64u_encode(public.sign_key),
            "box_key": b64u_encode(public.box_key),
            **position(state, day),
            "signatures": [to_wire(sign_next("account-rotated", payload, k, state, day=day)) for k in (old, new)],
        }
        return await api.rotate(home.account, body)

    answer = await at_next_position(lambda: session.directory(home, api), post)
    if not await _rotation_done(session, home, new):  # promoted on the verified directory, not on the answer
        raise HostileServerError(
            "the server acknowledged your key rotation, but the key directory it serves does not hold it; both key "
            "pairs stay on this device, and `tessera rotate-keys` tries the same rotation again"
        )
    _promote(home, new)
    resigned = await _resign(session, home, old.public().sign_key)
    return _result(home, finished=False, seq=int(answer["directory_seq"]), resigned=resigned)


def _result(home: Home, *, finished: bool, seq: int | None, resigned: int) -> Rotated:
    return Rotated(
        account=home.account,
        safety_number=fingerprint(home.keys.public(), home.account),
        finished=finished,
        directory_seq=seq,
        resigned=resigned,
        council=home.role == "council",
    )


async def _rotation_done(session: Session, home: Home, new: AccountKeys) -> bool:
    """Whether the verified key directory names `new` (the pending keys of an interrupted rotation) for this account:
    True: promote them; False: it still names the current keys, so the same rotation is tried again. Never decided
    on a failed request or the server's word: the pending keys stay unless the directory, verified from this
    device's pin, names them. Raises KeyChangedError when it names keys this device holds neither of (the pending
    keys are kept: nothing is lost by keeping them). Hostile test: tests/hostile/test_review_keys.py."""
    api = session.api(home)
    try:
        state = await session.directory(home, api)
    except ApiError as exc:
        if exc.status != 401:
            raise
        # the current keys no longer sign in: if the rotation happened, the new keys do (else this raises too)
        state = await session.directory(home, api.as_principal(home.account, new), signing_keys=new)
    account = state.active(home.account)
    named = account.keys.sign_key if account is not None else None
    if named == new.public().sign_key:
        return True
    if named == home.keys.public().sign_key:
        return False
    raise KeyChangedError(
        "the verified key directory names keys for your account that this device holds neither of (not the current "
        "ones, not those of your interrupted rotation): someone else rotated this account's keys. Tell your "
        "administrator; this device keeps what it has"
    )


async def _resign(session: Session, home: Home, old_sign_key: bytes) -> int:
    """An administrator's pending invites, signed again with the new keys (they would stop working otherwise)."""
    if home.role != "admin":
        return 0
    return await resign_invites(session.api(home), admin_name=home.account, old_sign_key=old_sign_key, keys=home.keys)


def _promote(home: Home, keys: AccountKeys) -> None:
    public = keys.public()
    home.state["sign_seed"], home.state["box_secret"] = b64u_encode(keys.sign_seed), b64u_encode(keys.box_secret)
    home.state.pop("pending_keys", None)
    home.section("known")[home.account] = {
        "sign_key": b64u_encode(public.sign_key),
        "box_key": b64u_encode(public.box_key),
        "verified": True,
    }
    home.save()
