"""`council rewrap` against a lying server (issue 18 item 2): case keys are wrapped only to the verified council."""

from __future__ import annotations

from keys.encoding import b64u_encode
from tests.hostile.lies import ATTACKER, add_to_missing
from tests.support.harness import Org


def test_rewrap_wraps_only_to_the_verified_council(org: Org) -> None:
    """Issue 18 item 2. Seen against the old code: `council rewrap` wrapped every case key to whatever box key the
    server listed as missing."""
    intruder = b64u_encode(ATTACKER.public().box_key)
    org.relay.rewrite("GET", r"/v1/wraps", add_to_missing(ATTACKER.public().box_key))
    result = org.run("kim", "council", "rewrap")
    assert result.code == 3, result.err
    assert "server" in result.err
    assert not any(intruder in s.body.decode() for s in org.relay.requests("POST", r"/v1/wraps"))
