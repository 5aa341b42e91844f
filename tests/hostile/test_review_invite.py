"""Review of main after issues 18 and 25 (fixed since: `make_invite` refuses an answer naming another invite than
the one just signed): the invite an administrator prints names whatever invite id and secret the
server answered, not the grant the administrator just signed (client/enrol.py `make_invite` never compares them).
The joining device checks the grant it is served against that id, so it joins on any other grant the
administrator signed that is still valid.
"""

from __future__ import annotations

from typing import Any

from tests.support.harness import Org


def test_review_an_invite_names_the_grant_the_administrator_signed(org: Org) -> None:
    """The administrator invites nari to the council, then corrects it and invites nari as a helper. The server
    answers the second invite with the first one's id and secret (the honest server refuses a second invite for
    a name already invited; a hostile one answers as it likes). Seen on main: the administrator prints an invite
    for the council grant, nari's `join` checks out (an active administrator signed that grant, for that name) and
    nari's device joins as a council member, which the administrator did not ask for the second time; the
    helper grant is never used. Fix (client/enrol.py `make_invite`): refuse (exit 3) unless the server's
    `invite_id` is the one of the grant just signed."""
    first: dict[str, Any] = {}

    def keep(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        first.update(body)
        return body

    hook = org.relay.rewrite("POST", r"/v1/invites", keep)
    org.ok("admin", "admin", "invite", "--role", "council", "--name", "nari")
    org.relay._rewrites.remove(hook)
    org.relay.answer("POST", r"/v1/invites", lambda _s: (200, dict(first)))  # the real server would refuse the name
    second = org.run("admin", "admin", "invite", "--role", "helper", "--name", "nari")
    if second.code == 0:
        invite = second.out.strip()
        org.relay.clear()
        org.ok("nari", "join", invite, "--name", "nari")
        assert org.home("nari").role == "helper", "the helper invite made nari a council member"
    assert second.code == 3, second.err
