"""Review of main after issues 18 and 25: an attachment upload leaves the helper's outbox on the server's unsigned
word. Intakes got a signed receipt (issue 25 item 5); uploads did not: the pending-upload record is dropped when
the server's `received` count reaches the chunk count, when it answers the registration with 400/404/409/413, or
when it claims to hold a chunk it never got (the client then blames the helper's file). The record is what lets
the device finish the upload; the helper is told "attached" and to delete the originals, or told her file
changed, and the photo never reaches the council. Fixed: the record goes only on the server's signed upload
receipt (keys/receipts.py `AttachmentReceipt`, checked in client/attachments.py); a refusal or a claim of chunks
never sent keeps it and exits 3.
"""

from __future__ import annotations

from typing import Any

import pytest

from client.samples import CLEAN_JPEG
from tests.support.harness import Org

CHUNKS = r"/v1/cases/[^/]+/attachments/[^/]+/chunks"
REGISTER = r"/v1/cases/[^/]+/attachments"


def _photo(org: Org) -> str:
    photo = org.root / "passport.jpg"
    photo.write_bytes(CLEAN_JPEG)
    return str(photo)


def test_review_an_upload_stays_in_the_outbox_until_the_server_proves_it_holds_it(org: Org) -> None:
    """hana attaches a passport photo (sealed with the identity) to her case. The server answers the chunk upload
    with `{"received": 1}` (the whole attachment) without storing anything. Seen on main: `attach` prints "attached
    1 file(s) ... delete them if it could be seized", the pending upload is gone from the outbox, and council
    members see the attachment as "still uploading" for ever (a reveal cannot open it).
    Fix (client/attachments.py `upload`, like check_receipt for intakes): drop the pending upload only on a receipt
    the server signs with its directory key naming the case, the attachment id and the digest of the last sealed
    chunk (the stream is chained, so it vouches for all before it); otherwise keep it and exit 3."""
    org.relay.answer("PUT", CHUNKS, lambda _s: (200, {"received": 1, "complete": True}))
    result = org.run("hana", "attach", org.case, _photo(org), "--identity")
    kept = list(org.home("hana").pending_uploads())
    org.relay.clear()
    listing = org.ok("kim", "cases", "attachments", org.case)
    assert "uploading" in listing  # the server holds none of its chunks
    assert kept, f"the upload left hana's outbox on the server's unsigned word (exit {result.code}): {result.out}"


@pytest.mark.parametrize("lie", ["refused", "claims a chunk"])
def test_review_a_refusal_or_a_lie_about_chunks_does_not_drop_the_upload(org: Org, lie: str) -> None:
    """The server answers the registration with 409 (refused), or registers it and says it already holds one chunk
    (claims a chunk). Seen on main: the pending upload is dropped in both cases, with exit 2 and, for the second,
    "passport.jpg changed since its upload began ... attach the file again", blaming the helper's file for the
    server's lie. Fix (client/attachments.py `upload` and `_sealed_parts`): a refusal or a count that does not
    match what this device sent is the server's doing: keep the record, say the server refused or lied (exit 3),
    and let `outbox flush` try again."""
    if lie == "refused":
        org.relay.answer("POST", REGISTER, lambda _s: (409, {"error": "conflict", "message": "refused"}))
    else:

        def one_chunk(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
            return {**body, "received": 1}

        org.relay.rewrite("POST", REGISTER, one_chunk)
    result = org.run("hana", "attach", org.case, _photo(org), "--identity")
    kept = list(org.home("hana").pending_uploads())
    assert "changed since" not in result.err, result.err
    assert kept, f"the upload was dropped from the outbox on the server's word (exit {result.code}): {result.err}"
    assert result.code == 3, result.err
