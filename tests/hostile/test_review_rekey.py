"""Review of main after issues 18 and 25: old council shares were still erased on the server's word during a
re-key (the client took the server's `/v1/rekey` "done" as the signal; the verified directory holds the new council
as soon as the re-key's key ceremony is published, before any case is switched). Fixed: nothing is erased on a
status; `council rekey forget` checks the new council's attestation (k signatures over the switched headers,
covering every case sealed before the re-key) before it erases, and asks first.
"""

from __future__ import annotations

from typing import Any

from tests.hostile.review import rekey_key_ceremony
from tests.support.harness import Org


def test_review_old_shares_are_not_erased_before_the_cases_are_switched(org: Org) -> None:
    """The council re-keys (epoch 2). Right after the key ceremony, before any old member contributed a key switch,
    the server answers `/v1/rekey` with state "done". kim and lee (k = 2 of the old council) run
    `tessera council rekey status` (or `rekey attest`, which ends the same way): each client sees the new council
    in its verified directory, its own new share checks, and it erases its epoch-1 share. Seen on main: both
    shares are gone; every case still sealed to the epoch-1 key (all of them: none was switched) can never be
    revealed again, from the server or from any backup, and `rekey contribute` then fails for lack of a share.
    Unlike a deletion of case data (which helpers' `sync` notices and backups undo), this is silent and final.
    Fix (client/rekey.py, the one erase rule for a re-key): erase the old share only after this device has verified
    the re-key's completion itself: the attestation with k signatures of the new council over the Merkle root of
    the switched headers, that this member either signed or checked, covering every case it can list; never on
    the `state` field. The erase should also be an explicit, confirmed step that says how many cases it covers."""
    rekey_key_ceremony(org)
    org.relay.rewrite(
        "GET",
        r"/v1/rekey",
        lambda _s, _b: {"state": "done", "old_epoch": 1, "new_epoch": 2, "cases": 2, "switched": 2, "remaining": 0},
    )
    for member in ("kim", "lee"):
        org.run(member, "council", "rekey", "status")
        forget = org.run(member, "council", "rekey", "forget", "--yes")
        assert forget.code == 3 and "attestation" in forget.err, forget.err
    erased = [m for m in ("kim", "lee") if "share:1" not in org.home(m).section("ceremony")]
    org.relay.clear()
    status: Any = org.ok("kim", "council", "rekey", "status")
    assert "waiting for contributions" in status  # the real server: no case switched yet
    assert erased == [], f"{', '.join(erased)} erased their epoch-1 share before any case was switched"
