"""Review of main after issues 18 and 25: a device deletes the new keys of an interrupted key rotation on the
server's word. `tessera rotate-keys` keeps the new keys as `pending_keys` before posting the rotation; when the
answer is lost, the next run asks the server whether the new keys sign in, and on any ApiError (a 401) or a
directory without the rotation (a freeze the threat model allows), it deletes them and rotates to yet another
pair. The rotation the server did store names keys whose secret no longer exists: the account is locked out of
its own keys for good (a council member's box key then receives case-key wraps nobody can open). Fixed in
client/rotation.py: pending keys go only when the directory verified from the pin names them (promoted)
or names keys the device holds neither of; else the same rotation is tried again; and a rotation the server
acknowledges is promoted only once the verified directory holds it.
"""

from __future__ import annotations

from typing import Any

from keys.accounts import AccountKeys
from keys.encoding import b64u_decode
from tests.hostile.review import cutting_org
from tests.support.harness import Org

__all__ = ["cutting_org"]


def test_review_the_new_keys_of_an_interrupted_rotation_are_not_deleted_on_the_servers_word(cutting_org: Org) -> None:
    """hana runs `rotate-keys`; the server stores the rotation and cuts the connection before answering. She runs
    it again: the server answers the new keys' directory fetch with 401 ("the new keys do not sign in: the rotation
    did not happen") and serves her old keys the directory without the rotation (her pin is before it). Her
    client deletes the new keys, makes another pair and posts a second rotation, which the server drops. Seen on
    main: the directory holds the first rotation, the keystore holds neither its secret nor anything that signs
    as hana; against the honest server afterwards, `rotate-keys` fails with "the server does not accept this
    account" and nothing can finish it: only the administrator can help (revoke and invite again).
    Fix (client/rotation.py `rotate_keys`): never delete pending keys on a failed request or on a
    directory that lacks the rotation; delete them only when the verified directory holds a later rotation of
    this account to other keys or the old keys are shown (by a directory entry signed with them) to be current
    after the pending ones; otherwise keep them, say the server did not answer, and retry the same rotation."""
    org = cutting_org
    seen: list[Any] = []

    def keep(_s: Any, body: Any) -> Any:
        seen.append(body)
        return body

    org.relay.rewrite("GET", r"/v1/directory", keep, principal="hana")
    org.relay.cut("POST", r"/v1/accounts/hana/rotate", principal="hana", after=True)  # type: ignore[attr-defined]
    first = org.run("hana", "rotate-keys")
    assert first.code != 0, first.out
    pending = org.home("hana").state["pending_keys"]
    new = AccountKeys(sign_seed=b64u_decode(pending["sign_seed"]), box_secret=b64u_decode(pending["box_secret"]))
    before = seen[-1]  # the directory as it stood before the rotation, which the server keeps serving hana
    asked: list[int] = []

    def new_keys_refused(_s: Any) -> tuple[int, Any]:
        asked.append(1)
        return (401, {"error": "unauthorized", "message": "no"}) if len(asked) == 1 else (200, before)

    org.relay.clear()
    org.relay.answer("GET", r"/v1/directory", new_keys_refused, principal="hana")
    org.relay.answer("POST", r"/v1/accounts/hana/rotate", lambda _s: (503, {"error": "unavailable", "message": "later"}))
    org.run("hana", "rotate-keys")
    home = org.home("hana")
    held = {home.keys.public().sign_key} | (
        {AccountKeys(sign_seed=b64u_decode(home.state["pending_keys"]["sign_seed"]), box_secret=bytes(32)).public().sign_key}
        if "pending_keys" in home.state
        else set()
    )
    org.relay.clear()
    later = org.run("hana", "rotate-keys")  # an honest server now: finishing the rotation needs its keys
    assert new.public().sign_key in held, f"the keys the directory now names for hana are gone from her device: {later.err}"
    assert later.code == 0 and org.run("hana", "sync").code == 0, later.err
