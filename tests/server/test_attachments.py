"""Attachments on the server: registration, ordered resumable parts, streaming download, who may read,
every malformed upload refused without writing, and shredding with the case."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from client.api import Api, ApiError
from keys.attachments import (
    CHUNK,
    Layout,
    Opener,
    StreamOpener,
    case_attachment_key,
    new_descriptor,
    open_descriptor,
    seal_descriptor,
    seal_stream,
)
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import IntakeEnvelope, new_case_id, reply_keys, unwrap_case_key
from keys.hashing import digest, digest_pieces
from keys.receipts import AttachmentReceipt, verify_attachment_receipt
from keys.requests import case_principal
from keys.wire import from_wire
from server.config import Config, load_config
from server.http.keys import SERVICES
from server.services.retention import shred_expired
from tests.support.world import Member, World, submit_intake

SECRET = b"\x01" * 32


@pytest.fixture
def config(server_dir: tuple[Path, str]) -> Config:
    return replace(load_config(server_dir[0]), retention={"open": 30, "decided": 0, "closed": 0}, max_attachment=8 * CHUNK)


class Upload:
    def __init__(self, envelope: IntakeEnvelope, helper: Member, size: int) -> None:
        self.case_id = envelope.case_id
        self.reply = reply_keys(SECRET, self.case_id)
        self.api: Api = helper.api.as_principal(case_principal(self.case_id), self.reply)
        self.case_key = unwrap_case_key(self.reply, self.case_id, envelope.reply_wrap)
        self.data = os.urandom(size)
        self.descriptor = new_descriptor(
            case_id=self.case_id, kind="case", name="x-ray.png", media_type="image/png", size=size, removed=(), reply=self.reply
        )
        self.sealed = seal_descriptor(self.descriptor, case_attachment_key(self.case_id, self.case_key))
        self.chunks = list(seal_stream(io.BytesIO(self.data), self.descriptor))
        self.path = f"/v1/cases/{b64u_encode(self.case_id)}/attachments/{b64u_encode(self.descriptor.attachment_id)}"

    def register_body(self, **changes: object) -> dict[str, object]:
        body: dict[str, object] = {
            "v": 1,
            "attachment_id": b64u_encode(self.descriptor.attachment_id),
            "descriptor": b64u_encode(self.sealed),
            "padded_size": self.descriptor.layout.padded,
        }
        return body | changes

    async def register(self) -> dict[str, object]:
        result: dict[str, object] = await self.api.call(
            "POST", f"/v1/cases/{b64u_encode(self.case_id)}/attachments", body=self.register_body()
        )
        return result

    async def put(self, first: int, count: int) -> dict[str, object]:
        result: dict[str, object] = await self.api.put_bytes(
            f"{self.path}/chunks", b"".join(self.chunks[first : first + count]), query={"from": first}
        )
        return result


async def refused(status: int, call: object) -> str:
    with pytest.raises(ApiError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.status == status, caught.value.message
    return caught.value.message


async def download(api: Api, path: str, first: int = 0) -> bytes:
    return b"".join([block async for block in api.stream(f"{path}/chunks", query={"from": first})])


async def audit_actions(member: Member) -> list[str]:
    return [e["action"] for e in (await member.api.call("GET", "/v1/audit"))["entries"]]


async def test_upload_in_parts_resume_and_download(world: World) -> None:
    kim, _lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, reply_secret=SECRET)
    up = Upload(envelope, helper, 3 * CHUNK + 7)  # 4 chunks of 1 MiB
    assert len(up.chunks) == 4
    state = await up.register()
    assert state["received"] == 0 and state["chunks"] == 4 and not state["complete"]
    assert await up.register() == state  # the same registration again: the same answer
    assert (await up.put(0, 2))["received"] == 2
    # the connection dropped and the client asks where to resume: chunk 2; anything else is refused
    assert (await up.api.call("GET", up.path))["received"] == 2
    message = await refused(409, up.put(1, 2))
    assert "continue from chunk 2" in message
    await refused(409, up.put(3, 1))
    await refused(409, kim.api.call("GET", f"{up.path}/chunks"))  # not downloadable before it is complete
    assert "signed_receipt" not in state and "signed_receipt" not in await up.api.call("GET", up.path)
    final = await up.put(2, 2)
    assert final["received"] == 4 and final["complete"]
    # the server's signed receipt for all of it: on the last part's answer, and again on asking (answer lost)
    server_key = await world.server_key()
    for answer in (final, await up.api.call("GET", up.path), await up.register()):
        verify_attachment_receipt(
            from_wire(AttachmentReceipt, answer["signed_receipt"]),
            server_key=server_key,
            case_id=up.case_id,
            attachment_id=up.descriptor.attachment_id,
            chunks=4,
            last_chunk=digest(up.chunks[-1]),
        )
    await refused(409, up.put(4, 1))
    # a council member reads it back as one stream and opens it with the case key
    listed = (await kim.api.call("GET", f"/v1/cases/{b64u_encode(up.case_id)}/attachments"))["attachments"]
    assert [a["attachment_id"] for a in listed] == [b64u_encode(up.descriptor.attachment_id)]
    descriptor = open_descriptor(
        b64u_decode(listed[0]["descriptor"]),
        case_id=up.case_id,
        attachment_id=up.descriptor.attachment_id,
        openers=[Opener.for_case(up.case_id, up.case_key)],
        reply_sign_key=envelope.reply_sign_key,
    )
    stream = await download(kim.api, up.path)
    assert stream == b"".join(up.chunks)
    layout = Layout(descriptor.layout.padded)
    opener = StreamOpener(descriptor)
    plain = b"".join(opener.open(stream[i : i + layout.chunk_sealed]) for i in range(0, len(stream), layout.chunk_sealed))
    opener.finish()
    assert plain == up.data
    # resuming a download from a chunk, and the case's helper reads it too
    assert await download(up.api, up.path, first=3) == up.chunks[3]
    await refused(400, download(kim.api, up.path, first=4))
    actions = await audit_actions(kim)
    assert actions.count("attachment.started") == 1 and actions.count("attachment.part") == 1
    assert actions.count("attachment.added") == 1


async def test_bad_uploads_change_nothing(world: World) -> None:
    kim, _lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, reply_secret=SECRET)
    up = Upload(envelope, helper, 2 * CHUNK)
    base = f"/v1/cases/{b64u_encode(up.case_id)}/attachments"
    before = await audit_actions(kim)
    for body, what in [
        (up.register_body(descriptor=b64u_encode(up.sealed[:-1])), "descriptor"),
        (up.register_body(padded_size=3 * CHUNK + 5), "bucket"),
        (up.register_body(padded_size=16 * CHUNK), "larger than this server accepts"),
        (up.register_body(attachment_id="AAAA"), "attachment_id"),
        (up.register_body(v=2), "version"),
    ]:
        message = await refused(400, up.api.call("POST", base, body=body))
        assert what in message, message
    # only the case's helper (through its reply key) registers and uploads; a helper account cannot
    await refused(403, helper.api.call("POST", base, body=up.register_body()))
    await refused(403, kim.api.call("POST", base, body=up.register_body()))
    assert await audit_actions(kim) == before
    await up.register()
    await refused(409, up.api.call("POST", base, body=up.register_body(padded_size=4 * CHUNK)))  # same id, different
    after_register = await audit_actions(kim)
    await refused(400, up.api.put_bytes(f"{up.path}/chunks", up.chunks[0][:-1], query={"from": 0}))  # cut chunk
    await refused(400, up.api.put_bytes(f"{up.path}/chunks", b"", query={"from": 0}))
    await refused(400, up.api.put_bytes(f"{up.path}/chunks", b"".join(up.chunks) + up.chunks[0], query={"from": 0}))
    await refused(409, up.api.put_bytes(f"{up.path}/chunks", up.chunks[0], query={"from": 1}))  # a gap
    assert "required" in await refused(400, up.api.put_bytes(f"{up.path}/chunks", up.chunks[0]))  # no ?from=
    assert (await up.api.call("GET", up.path))["received"] == 0
    assert await audit_actions(kim) == after_register
    # another case's helper sees nothing of it; an unknown attachment is a 404
    other = await submit_intake(helper, reply_secret=b"\x02" * 32)
    stranger = helper.api.as_principal(case_principal(other.case_id), reply_keys(b"\x02" * 32, other.case_id))
    await refused(404, stranger.call("GET", up.path))
    await refused(404, stranger.call("GET", f"/v1/cases/{b64u_encode(other.case_id)}/attachments/{b64u_encode(bytes(16))}"))
    wrong_case = up.path.replace(b64u_encode(up.case_id), b64u_encode(other.case_id))
    await refused(404, stranger.call("GET", wrong_case))
    await refused(404, up.api.call("GET", f"/v1/cases/{b64u_encode(new_case_id())}/attachments"))


async def test_a_part_is_hashed_as_it_arrives_and_must_match_its_signature(world: World) -> None:
    kim, _lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, reply_secret=SECRET)
    up = Upload(envelope, helper, 3 * CHUNK)  # 4 chunks
    await up.register()
    before = await audit_actions(kim)
    parts = up.chunks[:2]
    # signed over other bytes than the ones sent (one bit of the second chunk): the same 401 as any bad signature
    flipped = [parts[0], bytes([parts[1][0] ^ 1]) + parts[1][1:]]
    await refused(401, up.api.put_pieces(f"{up.path}/chunks", parts, digest_pieces(flipped), query={"from": 0}))
    # a body without a Content-Length (chunked) cannot be read into one buffer: refused before anything else
    url, headers = up.api._prepare("PUT", f"{up.path}/chunks", b"", {}, {"from": 0}, auth=True, body_digest=digest_pieces(parts))

    async def chunked() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async with world.client.session.put(url, data=chunked(), headers=headers) as response:
        assert response.status == 400
        assert "Content-Length" in (await response.json())["message"]
    assert (await up.api.call("GET", up.path))["received"] == 0
    assert await audit_actions(kim) == before
    # the same pieces, signed over what is sent, land
    state = await up.api.put_pieces(f"{up.path}/chunks", parts, digest_pieces(parts), query={"from": 0})
    assert state["received"] == 2


async def test_part_size_limit_and_json_limit(world: World) -> None:
    await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, reply_secret=SECRET)
    up = Upload(envelope, helper, 7 * CHUNK)  # 8 chunks: one part of 8 MiB is fine
    await up.register()
    assert (await up.put(0, 8))["complete"]
    # a JSON route keeps the small limit even though attachment parts may be large
    big = {"v": 1, "attachment_id": "A" * 2_000_000, "descriptor": "", "padded_size": 1}
    await refused(413, up.api.call("POST", f"/v1/cases/{b64u_encode(up.case_id)}/attachments", body=big))


async def test_shredding_a_case_shreds_its_attachments(world: World) -> None:
    kim, _lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, reply_secret=SECRET)
    up = Upload(envelope, helper, 10)
    await up.register()
    await up.put(0, 1)
    world.clock.advance(31 * 86400)
    services = world.client.app[SERVICES]
    assert await shred_expired(services) == [up.case_id]
    await refused(404, kim.api.call("GET", up.path))
    from sqlalchemy import func, select

    from server.storage.models import AttachmentChunkRow, AttachmentRow

    async with services.db.read() as session:
        for model in (AttachmentRow, AttachmentChunkRow):
            assert (await session.execute(select(func.count()).select_from(model))).scalar_one() == 0


async def test_an_upload_waits_out_the_rate_limit(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fast link can send more parts a minute than the per-principal budget: the client waits, then goes on."""
    import client.attachments as attachments
    from client.home import Home
    from client.strip import plan

    await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, reply_secret=SECRET)
    services = world.client.app[SERVICES]
    server_key = await world.server_key()  # before the budget shrinks
    services.config = replace(services.config, rate_limit=3)
    waited: list[float] = []

    async def sleep(seconds: float) -> None:  # a minute passes at once
        waited.append(seconds)
        world.clock.advance(60)

    monkeypatch.setattr(attachments, "_sleep", sleep)
    home = Home(tmp_path, None, {"reply_secret": b64u_encode(SECRET), "outbox_key": b64u_encode(bytes(32))})
    video = tmp_path / "video.bin"
    video.write_bytes(os.urandom(5 * CHUNK))  # 6 chunks: with parts of 2, three parts after registering
    monkeypatch.setattr(attachments, "PART_CHUNKS", 2)
    reply = reply_keys(SECRET, envelope.case_id)
    case_key = unwrap_case_key(reply, envelope.case_id, envelope.reply_wrap)
    pending = attachments.prepare_upload(
        case_id=envelope.case_id, plan=plan(video), kind="case", reply=reply, case_key=case_key, identity_attachment_key=bytes(32)
    )
    await attachments.upload(helper.api, home, pending, server_key=server_key)
    assert waited, "the budget of 3 requests a minute was never exceeded"
    world.clock.advance(60)  # the upload may have spent this minute's budget: the check below is a request too
    state = await helper.api.as_principal(case_principal(envelope.case_id), reply).call(
        "GET", f"/v1/cases/{b64u_encode(envelope.case_id)}/attachments/{b64u_encode(pending.descriptor.attachment_id)}"
    )
    assert state["complete"] and state["received"] == 6
    assert list(home.pending_uploads()) == []
