"""How a case's attachments are listed on a device: readable ones with their names, identity ones as
sealed, and a forged one as damaged (never passed off as merely sealed)."""

from __future__ import annotations

import os

from client.attachments import describe_all
from keys.accounts import AccountKeys
from keys.attachments import Opener, case_attachment_key, identity_attachment_key, new_descriptor, seal_descriptor
from keys.encoding import b64u_encode
from keys.envelope import new_case_id


def test_listing_tells_sealed_from_forged() -> None:
    case_id, case_key, identity_key = new_case_id(), os.urandom(32), os.urandom(32)
    reply, server = AccountKeys.generate(), AccountKeys.generate()
    rows = []
    for kind, signer, recipient in (
        ("case", reply, case_attachment_key(case_id, case_key)),
        ("identity", reply, identity_attachment_key(case_id, identity_key)),
        ("case", server, case_attachment_key(case_id, case_key)),  # made up by someone without the reply key
    ):
        d = new_descriptor(
            case_id=case_id, kind=kind, name=f"{kind}.jpg", media_type="image/jpeg", size=5, removed=(), reply=signer
        )
        rows.append(
            {
                "attachment_id": b64u_encode(d.attachment_id),
                "descriptor": b64u_encode(seal_descriptor(d, recipient)),
                "complete": True,
                "padded_size": 512,
                "day": 1,
            }
        )
    listed = describe_all(
        rows, case_id=case_id, openers=[Opener.for_case(case_id, case_key)], reply_sign_key=reply.public().sign_key
    )
    assert [r["kind"] for r in listed] == ["case", "sealed", "damaged"]
    assert listed[0]["name"] == "case.jpg" and listed[0]["size"] == 5
    public = {"attachment_id", "complete", "padded_size", "day"}
    # the sealed one shows only what the server knows anyway, and a reason in place of its name
    assert set(listed[1]) == public | {"kind", "name"}
    assert listed[1]["name"].startswith("(") and "identity.jpg" not in listed[1]["name"]
    assert set(listed[2]) == public | {"kind", "name"} and listed[2]["name"].startswith("(does not verify:")
    assert "signature" in listed[2]["name"]
