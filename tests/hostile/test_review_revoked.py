"""Review of main after issues 18 and 25 (fixed since): revoking a council member's account (the documented first step for a lost
or seized council device, docs/operations.md) changes nothing a client decides on. The council record still names
the member until a membership change, and clients trust the record alone: a revoked member's reveal request is
approved (the approver is shown "lee asks", nothing about the revocation), and helpers keep wrapping every new
case key to the revoked member's box key. A server that also holds the seized device (or simply never lets the
membership change finish: refusing service) got both for as long as it liked. Now a revoked member's keys are
believed for nothing (requests, votes, messages, cosignatures) and given nothing (new case keys, messages, rewraps),
and the server deletes the revoked device's case-key wraps.
"""

from __future__ import annotations

import json
import time
from typing import Any

from keys.council import EpochRecord
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import IntakeEnvelope, open_case_file, open_identity, unwrap_case_key
from keys.reveal import PartialDecryption, combine_reveal, request_reveal
from keys.wire import from_wire, to_wire
from tests.support.harness import FOOD, Org


def _served_case(org: Org, who: str, case: str) -> dict[str, Any]:
    seen: list[Any] = []

    def keep(_s: Any, body: Any) -> Any:
        seen.append(json.loads(json.dumps(body)))
        return body

    hook = org.relay.rewrite("GET", f"/v1/cases/{case}", keep)
    org.ok(who, "cases", "show", case)
    org.relay._rewrites.remove(hook)
    return dict(seen[-1])


def test_review_a_revoked_members_reveal_request_is_not_approved(org: Org) -> None:
    """lee's device is seized; the administrator revokes lee at once. The attacker, holding lee's device and the
    server, makes a reveal request on hana's medical case with lee's keys (lee's wrap opens the case key, so the
    purpose is sealed properly) and lists it to kim and park. Their clients check the requester against the
    verified council record only, where lee still is: each is shown "lee asks to reveal ..." (nothing says lee is
    revoked) and, on --yes, posts its partial. Seen on main: with the two partials and lee's blinding scalar the
    attacker opens the identity (the test prints the name it read).
    Fix (keys/reveal.py `check_request`, with the directory; and client/commands/reveal.py): a request counts only
    if its requester is an active (not revoked) account of the verified directory holding that signing key;
    refuse (exit 3) otherwise and say the requester's account is revoked. The same rule belongs wherever a
    member's signature is believed: votes (`member_keys` in client/casefiles.py takes revoked accounts' keys),
    messages (`open_thread`), cosignatures (`witness_of` counts the record key of a revoked member)."""
    raw = _served_case(org, "lee", org.case)  # the server holds lee's wrap; here it is served before the revocation
    org.ok("admin", "admin", "revoke", "lee")
    envelope = from_wire(IntakeEnvelope, raw["envelope"])
    record = from_wire(EpochRecord, org.home("kim").state["council"])
    lee = org.home("lee").keys  # the seized device
    wrap = next(w for w in envelope.wraps if w.recipient == lee.public().box_key)
    case_key = unwrap_case_key(lee, envelope.case_id, wrap)
    assert envelope.header is not None
    request, blinding = request_reveal(
        record=record,
        header=envelope.header,
        case_id=envelope.case_id,
        keys=lee,
        purpose="hospital admission tomorrow",
        case_key=case_key,
        expiry=int(time.time()) + 3600,
    )
    rid = b64u_encode(request.request_id)
    item = {"request": to_wire(request), "requester": "lee", "approvals": 0, "threshold": record.threshold}
    org.relay.rewrite("GET", r"/v1/reveals", lambda _s, b: {**b, "requests": [*b["requests"], item]})
    org.relay.answer("POST", rf"/v1/reveals/{rid}/partials", lambda _s: (200, {"approvals": 1}))
    results = {m: org.run(m, "reveal", "approve", rid, "--yes") for m in ("kim", "park")}
    partials = [from_wire(PartialDecryption, s.json()) for s in org.relay.requests("POST", rf"/v1/reveals/{rid}/partials")]
    revealed = None
    if len(partials) >= record.threshold:
        identity_key = combine_reveal(request, blinding, partials, record=record, header=envelope.header)
        revealed = json.loads(open_identity(envelope, identity_key, open_case_file(envelope, case_key)))["full_name"]
    assert partials == [], f"kim and park approved a revoked member's request; the attacker read the identity {revealed!r}"
    for member, result in results.items():
        assert result.code == 3 and "revoked" in result.err, (member, result.err)


def test_review_new_case_keys_are_not_wrapped_to_a_revoked_member(org: Org) -> None:
    """lee's device is seized and lee revoked. Before the membership change is done (which the server can hold up
    for ever by refusing service), hana submits an intake: her client wraps the case key to every member of the
    council record, lee included. Seen on main: the envelope carries a wrap for lee's box key, so the seized
    device opens every case file sent after the revocation (messages sent with `messages send` likewise).
    Fix: readers of a new case key or message are the verified council record's members whose accounts are
    active (client/commands/intake.py via keys/envelope.py `seal_intake`, client/commands/messages.py), and the
    server's `check_envelope` accepts an envelope without wraps for revoked members (a protocol change: the rule
    "one wrap per current member" moves to "one per active member")."""
    org.ok("admin", "admin", "revoke", "lee")
    lee_box = org.home("lee").keys.public().box_key
    form = org.write("food.toml", FOOD)
    org.ok("hana", "intake", "submit", "--kind", "food", "--form", str(form))
    sent = [s.json() for s in org.relay.requests("PUT", r"/v1/cases/[^/]+")]
    wrapped_to = [b64u_decode(w["recipient"]) for e in sent for w in e["wraps"]]
    assert sent and lee_box not in wrapped_to, "hana's new case key is wrapped to the revoked member lee"
