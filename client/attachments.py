"""Attachments on the device: clean a photo of metadata, seal the file as a stream, upload it in parts
that resume after a dropped connection (also after the program was stopped: the upload's record waits
in the encrypted outbox), and download and open it as a stream into a file.

The helper uploads through the case's reply key, so the server links no account to the case. With an
attachment added after the intake goes the helper's signed list of all the case's attachments; readers show
only the attachments the case file or that list names, and say when one of those is missing
(`check_listing`, protocol doc §8b).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from client.api import Api, ApiError, HostileServerError, ServerUnreachableError
from client.home import Home
from client.output import ByteProgress
from client.session import UsageError
from client.strip import Piece, Plan, PlanReader, pieces_from_json, pieces_to_json
from keys.accounts import AccountKeys
from keys.attachments import (
    AttachmentDescriptor,
    AttachmentList,
    Opener,
    StreamOpener,
    case_attachment_key,
    new_descriptor,
    open_descriptor,
    seal_descriptor,
    seal_stream,
    verify_attachment_list,
)
from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.envelope import CaseFile, reply_keys
from keys.errors import DecryptionError, EncodingError, ProofError, TesseraError
from keys.hashing import digest, digest_pieces
from keys.receipts import AttachmentReceipt, verify_attachment_receipt
from keys.requests import case_principal
from keys.wire import from_wire, to_wire

PART_CHUNKS = 8  # sealed chunks per upload request (8 MiB and a little)
IN_FLIGHT = 2  # parts sent before the answer to the first comes back
RETRIES = 5  # attempts per part or download after a dropped connection, before giving up for now
BACKOFF = 1.0  # seconds before the first retry; doubles each time, at most 10 times this
RATE_WAIT, RATE_WAITS = 20.0, 6  # past the server's requests-per-minute budget: wait, up to two minutes
_sleep = asyncio.sleep  # one place to wait (the tests pass time faster)


class FileChangedError(UsageError):
    """The file of an unfinished upload changed; the upload cannot resume."""


class UploadInterruptedError(Exception):
    """The server stopped answering during an upload; it resumes with `tessera outbox flush`."""


# -- sealing and the pending-upload record -------------------------------------------------------


@dataclass
class PendingUpload:
    """What the device keeps while an upload is unfinished (sealed in the outbox): enough to re-seal
    exactly the same chunks and to notice that the file changed in between."""

    case_id: bytes
    descriptor: AttachmentDescriptor
    sealed_descriptor: bytes
    path: Path  # the original (absolute), used only to spool, or by a record from before spooling
    ranges: list[Piece]
    # digest of the last chunk of every part sent, by chunk index: the server holds whole parts, so its
    # last chunk is one of these; secretstream chains, so that one chunk vouches for all before it
    sent: dict[int, bytes] = field(default_factory=dict)
    # an attachment added after the intake: the helper's signed list of all the case's attachments, this one
    # included, posted after the registration (an intake's attachments are listed in its case file)
    listing: AttachmentList | None = None
    # the sealed chunks wait in the outbox (Home.spool_path): resuming never reads the original again. False only
    # for a record an earlier version kept, which re-seals from the original file
    spooled: bool = False

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "case_id": b64u_encode(self.case_id),
                "descriptor": to_wire(self.descriptor),
                "sealed_descriptor": b64u_encode(self.sealed_descriptor),
                "path": str(self.path),
                "ranges": pieces_to_json(self.ranges),
                "sent": {str(i): b64u_encode(d) for i, d in self.sent.items()},
                "listing": to_wire(self.listing) if self.listing is not None else None,
                "spooled": self.spooled,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> PendingUpload:
        raw = json.loads(data)
        return cls(
            case_id=b64u_decode(raw["case_id"], length=16),
            descriptor=from_wire(AttachmentDescriptor, raw["descriptor"]),
            sealed_descriptor=b64u_decode(raw["sealed_descriptor"]),
            path=Path(raw["path"]),
            ranges=pieces_from_json(raw["ranges"]),
            sent={int(i): b64u_decode(d, length=32) for i, d in raw["sent"].items()},
            listing=from_wire(AttachmentList, raw["listing"]) if raw.get("listing") is not None else None,
            spooled=bool(raw.get("spooled", False)),
        )

    @property
    def name(self) -> str:
        return self.descriptor.name


def prepare_upload(
    *,
    case_id: bytes,
    plan: Plan,
    kind: str,
    reply: AccountKeys,
    case_key: bytes,
    identity_attachment_key: bytes,
    attachment_id: bytes | None = None,
    listing: AttachmentList | None = None,
) -> PendingUpload:
    """Seal the descriptor of a new attachment: to the case key's attachment key, or (identity) to the
    key the helper signed into the case file, which only a reveal opens. `attachment_id`: the one chosen
    before, which the case file or the signed `listing` names (by default a new one, which nothing names)."""
    descriptor = new_descriptor(
        case_id=case_id,
        kind=kind,
        name=plan.name[:255],
        media_type=plan.media_type,
        size=plan.size,
        removed=plan.removed[:32],
        reply=reply,
        attachment_id=attachment_id,
    )
    recipient = identity_attachment_key if kind == "identity" else case_attachment_key(case_id, case_key)
    sealed = seal_descriptor(descriptor, recipient)
    return PendingUpload(case_id, descriptor, sealed, plan.path.absolute(), plan.ranges, listing=listing)


def spool(home: Home, pending: PendingUpload) -> None:
    """Seal the whole file into the outbox (Home.spool_path) and mark the record spooled: from here on the
    upload, and any resume after an interruption or a restart, reads only these sealed chunks, so the original
    may be deleted. Written to a temporary name, flushed to disk and renamed, so a spool is whole or absent.
    Raises UsageError when the file cannot be read or changed while it was read."""
    target = home.spool_path(pending.descriptor.attachment_id)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_name(target.name + ".partial")
    try:
        reader = PlanReader(pending.path, pending.ranges)
    except OSError as exc:
        raise UsageError(f"cannot read {pending.path}: {exc.strerror}") from exc
    try:
        with reader, partial.open("wb") as out, ByteProgress(f"sealing {pending.name}", pending.descriptor.size) as progress:
            os.fchmod(out.fileno(), 0o600)
            for chunk in seal_stream(reader, pending.descriptor):
                out.write(chunk)
                progress.add(pending.descriptor.layout.chunk_plain)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    except EncodingError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"{pending.path} changed while it was being sealed ({exc}); attach it again") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    pending.spooled = True


async def upload(api: Api, home: Home, pending: PendingUpload, *, server_key: bytes | None) -> None:
    """Upload (or resume) one attachment from its sealed copy in the outbox; its record stays there until the
    server's signed receipt for all of it verifies under `server_key` (the verified key directory's).

    Raises UploadInterruptedError when the server stops answering (the record stays for a later flush);
    HostileServerError when the server refuses the registration of what this device sealed for its own case, or
    claims chunks this device never sent, and ProofError when the receipt is missing or does not verify (the
    record stays: `outbox flush` tries again, `outbox drop` removes it); UsageError when the server does not
    accept its size (kept too) or, for an upload sealed from its original file (before the outbox kept sealed
    copies), the file changed since the upload began (the record leaves the outbox: it cannot resume).
    Hostile tests: tests/hostile/test_review_attachments.py.
    """
    home.put_pending_upload(pending.descriptor.attachment_id, pending.to_json())
    as_case = api.as_principal(case_principal(pending.case_id), reply_keys(home.reply_secret, pending.case_id))
    at = (pending.case_id, pending.descriptor.attachment_id)
    body = {
        "v": 1,
        "attachment_id": b64u_encode(pending.descriptor.attachment_id),
        "descriptor": b64u_encode(pending.sealed_descriptor),
        "padded_size": pending.descriptor.layout.padded,
    }
    try:
        state = await _retrying(lambda: _within_budget(lambda: as_case.new_attachment(pending.case_id, body)))
    except ApiError as exc:
        attachment = b64u_encode(pending.descriptor.attachment_id)
        kept = f"it stays in your outbox: `tessera outbox flush` tries again, `tessera outbox drop {attachment}` removes it"
        if exc.status == 413:
            raise UsageError(f"the server does not accept {pending.name}: {exc.message}; {kept}") from exc
        if exc.status in (400, 404, 409):  # exactly what this device sealed, for its own case: nothing to refuse
            raise HostileServerError(f"the server refused the upload of {pending.name} ({exc.message}); {kept}") from exc
        raise
    if pending.listing is not None:
        # registered first: a list naming an attachment the server never registered would look like one it hides
        listing = pending.listing
        await _retrying(lambda: _within_budget(lambda: as_case.put_attachment_list(pending.case_id, listing)))
    layout = pending.descriptor.layout
    server_has = int(state["received"])
    attachment = b64u_encode(pending.descriptor.attachment_id)
    try:
        reader: Any = (
            home.spool_path(pending.descriptor.attachment_id).open("rb")
            if pending.spooled
            else PlanReader(pending.path, pending.ranges)
        )
    except OSError as exc:
        if pending.spooled:
            raise UsageError(
                f"the sealed copy of {pending.name} is missing from the outbox ({exc.strerror}), so its upload cannot "
                f"resume: drop it with `tessera outbox drop {attachment}` and attach the file again"
            ) from exc
        raise UsageError(
            f"resuming the upload of {pending.name} needs its original file at {pending.path} ({exc.strerror}): this "
            f"upload began before the outbox kept sealed copies. Put the file back there and run `tessera outbox flush`, "
            f"or drop the upload with `tessera outbox drop {attachment}`"
        ) from exc
    with reader, ByteProgress(f"uploading {pending.name}", layout.padded) as progress:
        if pending.spooled:
            parts = _spooled_parts(reader, pending, server_has, progress)
        else:
            parts = _sealed_parts(reader, pending, server_has, progress)
        # The next part is sealed in a thread (libsodium releases the GIL) while up to IN_FLIGHT parts are
        # on the wire, so the server receives one while it writes the one before.
        sealing: asyncio.Future[Any] | None = asyncio.ensure_future(asyncio.to_thread(next, parts, None))
        window: deque[tuple[int, list[bytes], bytes, asyncio.Task[Any]]] = deque()
        try:
            while True:
                while sealing is not None and len(window) < IN_FLIGHT:
                    part = await sealing
                    sealing = None if part is None else asyncio.ensure_future(asyncio.to_thread(next, parts, None))
                    if part is not None:
                        first, chunks, part_digest, last_digest = part
                        # remembered before it is sent: the server may store it and the answer be lost
                        pending.sent[first + len(chunks) - 1] = last_digest
                        home.put_pending_upload(pending.descriptor.attachment_id, pending.to_json())
                        task = asyncio.ensure_future(_put_part(as_case, at, first, chunks, part_digest))
                        window.append((first, chunks, part_digest, task))
                if not window:
                    break
                first, chunks, part_digest, task = window.popleft()
                try:
                    state = await task
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                    # it overtook the part before it (which has landed by now): send it again
                    state = await _after_conflict(as_case, at, first, chunks, part_digest, exc)
                server_has = int(state["received"])
                progress.add(layout.chunk_plain * len(chunks))
        except FileChangedError:
            home.drop_pending_upload(pending.descriptor.attachment_id)
            raise
        finally:
            leftovers = [t for *_, t in window] + ([sealing] if sealing is not None else [])
            for left in leftovers:
                left.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
    if server_has != layout.count:
        raise UploadInterruptedError(f"the server holds {server_has} of {layout.count} chunks")
    check_upload_receipt(state, pending, server_key)
    home.drop_pending_upload(pending.descriptor.attachment_id)


def check_upload_receipt(answer: Any, pending: PendingUpload, server_key: bytes | None) -> AttachmentReceipt:
    """The server's signed receipt for the whole of `pending` in `answer`: this case and attachment, every chunk,
    the last one the one this device sealed and sent. Raises ProofError (the upload stays in the outbox)."""
    attachment = b64u_encode(pending.descriptor.attachment_id)
    kept = f"the upload of {pending.name} stays in your outbox (`tessera outbox flush` tries again)"
    wire = answer.get("signed_receipt") if isinstance(answer, dict) else None
    last = pending.sent.get(pending.descriptor.layout.count - 1)
    if wire is None or last is None:
        raise ProofError(f"the server says it holds all of {pending.name} ({attachment}) without a signed receipt; {kept}")
    if server_key is None:
        raise ProofError(f"the verified key directory names no server key to check the receipt for {pending.name}; {kept}")
    try:
        receipt = from_wire(AttachmentReceipt, wire)
        verify_attachment_receipt(
            receipt,
            server_key=server_key,
            case_id=pending.case_id,
            attachment_id=pending.descriptor.attachment_id,
            chunks=pending.descriptor.layout.count,
            last_chunk=last,
        )
    except (EncodingError, ProofError) as exc:
        raise ProofError(f"the server's receipt does not confirm the upload of {pending.name}: {exc}; {kept}") from exc
    return receipt


def _sealed_parts(
    reader: PlanReader, pending: PendingUpload, server_has: int, progress: ByteProgress
) -> Iterator[tuple[int, list[bytes], bytes, bytes]]:
    """(first chunk, sealed chunks, their digest, the last chunk's digest) of each part the server lacks.
    Chunks it holds are sealed again (the stream is chained) but not sent; the last one it holds must come out
    as before, or the file changed."""
    layout = pending.descriptor.layout
    part: list[bytes] = []
    first = server_has
    try:
        for index, chunk in enumerate(seal_stream(reader, pending.descriptor)):
            if index + 1 == server_has and pending.sent.get(index) is None:
                raise HostileServerError(f"the server claims chunks of {pending.name} this device never sent")
            if index + 1 == server_has and pending.sent.get(index) != digest(chunk):
                raise EncodingError("its content differs from what the server holds")
            if index < server_has:
                progress.add(layout.chunk_plain)
                continue
            part.append(chunk)
            if len(part) == PART_CHUNKS or index + 1 == layout.count:
                yield first, part, digest_pieces(part), digest(part[-1])  # hashed here, in the sealing thread
                first, part = index + 1, []
    except EncodingError as exc:  # edited, or shorter or longer than when it was first sealed
        raise FileChangedError(
            f"{pending.path} changed since its upload began ({exc}), so the upload cannot resume; "
            "it was removed from the outbox: attach the file again"
        ) from exc


def _spooled_parts(
    spool_file: BinaryIO, pending: PendingUpload, server_has: int, progress: ByteProgress
) -> Iterator[tuple[int, list[bytes], bytes, bytes]]:
    """As `_sealed_parts`, read from the chunks sealed into the outbox (`spool`). The last chunk the server holds
    must be the one sent before (the spool never changes; a damaged one is refused)."""
    layout = pending.descriptor.layout
    size = layout.chunk_sealed
    if server_has:
        if pending.sent.get(server_has - 1) is None:
            raise HostileServerError(
                f"the server claims to hold {server_has} chunk(s) of {pending.name}, more than this device sent it; the "
                "upload stays in your outbox"
            )
        spool_file.seek((server_has - 1) * size)
        if pending.sent[server_has - 1] != digest(spool_file.read(size)):  # what was sent was read from this copy
            raise FileChangedError(
                f"the sealed copy of {pending.name} in the outbox differs from what the server holds (it was damaged on "
                "this device), so the upload cannot resume; it was removed from the outbox: attach the file again"
            )
        progress.add(layout.chunk_plain * server_has)
    spool_file.seek(server_has * size)
    first = server_has
    while first < layout.count:
        count = min(PART_CHUNKS, layout.count - first)
        part = [spool_file.read(size) for _ in range(count)]
        if any(len(chunk) != size for chunk in part):
            raise FileChangedError(f"the sealed copy of {pending.name} in the outbox is cut short; attach the file again")
        yield first, part, digest_pieces(part), digest(part[-1])
        first += count


async def _put_part(as_case: Api, at: tuple[bytes, bytes], first: int, chunks: list[bytes], part_digest: bytes) -> Any:
    """Send one part. After a dropped connection ask the server what it holds (the part may have landed)."""
    unreachable = 0
    while True:
        try:
            return await _within_budget(lambda: as_case.put_chunks(*at, chunks, part_digest, first=first))
        except ServerUnreachableError:
            unreachable += 1
            if unreachable == RETRIES:
                raise UploadInterruptedError("the server stopped answering") from None
            await _sleep(min(2**unreachable, 10) * BACKOFF)
            try:
                state = await _within_budget(lambda: as_case.attachment(*at))
            except ServerUnreachableError:
                continue
            if int(state["received"]) > first:
                return state  # it landed before the connection dropped


async def _after_conflict(
    as_case: Api, at: tuple[bytes, bytes], first: int, chunks: list[bytes], part_digest: bytes, conflict: ApiError
) -> Any:
    state = await _within_budget(lambda: as_case.attachment(*at))
    if int(state["received"]) >= first + len(chunks):
        return state
    if int(state["received"]) == first:
        return await _put_part(as_case, at, first, chunks, part_digest)
    raise conflict


async def _within_budget(call: Callable[[], Awaitable[Any]]) -> Any:
    """`call()`; past the server's per-minute request budget (a fast link sends parts faster than it allows),
    wait for the budget to refill and call again, every request of an upload alike."""
    for waited in range(RATE_WAITS + 1):
        try:
            return await call()
        except ApiError as exc:
            if exc.status != 429 or waited == RATE_WAITS:
                raise
            await _sleep(RATE_WAIT * BACKOFF)
    raise AssertionError("unreachable")  # pragma: no cover


async def _retrying(call: Callable[[], Any]) -> Any:
    for attempt in range(RETRIES):
        try:
            return await call()
        except ServerUnreachableError:
            if attempt + 1 == RETRIES:
                raise UploadInterruptedError("the server does not answer") from None
            await _sleep(min(2**attempt, 10) * BACKOFF)
    raise AssertionError("unreachable")  # pragma: no cover


async def flush_uploads(api: Api, home: Home, server_key: bytes | None, *, case_id: bytes | None = None) -> tuple[int, int]:
    """Resume every unfinished upload in the outbox (of `case_id` only, when given); returns (finished, still
    waiting). `server_key`: the verified key directory's, which signs the upload receipts. Each upload is sent as
    its case's principal on `api`'s connection (client/submit.py gives each case a connection of its own)."""
    items = [PendingUpload.from_json(data) for _id, data in home.pending_uploads()]
    items = [p for p in items if case_id is None or p.case_id == case_id]
    done, refused = 0, list[str]()
    for pending in items:
        try:
            await upload(api, home, pending, server_key=server_key)
        except UploadInterruptedError:
            return done, len(items) - done - len(refused)
        except UsageError as exc:  # too large for this server (kept), or its original changed (dropped): the others go on
            refused.append(str(exc))
            continue
        done += 1
    if refused:
        raise UsageError("; ".join(refused))
    return done, 0


# -- reading ----------------------------------------------------------------------------------------


@dataclass
class Listing:
    """A case's attachments as the server lists them, and the helper's signed list it serves (if any)."""

    rows: list[dict[str, Any]]
    signed: Any


async def list_attachments(api: Api, case_id: bytes) -> Listing:
    answer = await api.attachments(case_id)
    rows = answer.get("attachments") if isinstance(answer, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ApiError(200, "bad_response", "the server's list of attachments is malformed")
    return Listing([r for r in rows], answer.get("list"))


@dataclass
class CheckedListing:
    """The rows the helper's signed data names (`rows`), and what the server added or left out."""

    rows: list[dict[str, Any]]
    hidden: list[str]  # ids the case file or the signed list names that the server did not list
    injected: int  # rows no signed data names: not shown as the case's attachments
    unknown: bool  # a version-2 case file with no signed list: nothing says which attachments exist
    signed_ids: frozenset[bytes]
    serial: int  # of the signed list the server served (0: none)
    problem: str | None = None  # the served list does not verify

    def warnings(self) -> list[str]:
        out = []
        if self.hidden:
            out.append(
                f"{len(self.hidden)} attachment(s) the helper listed are missing: the server hides them "
                f"({', '.join(self.hidden)})"
            )
        if self.injected:
            out.append(f"{self.injected} attachment(s) the helper never listed were left out: the server added them")
        if self.problem:
            out.append(self.problem)
        if self.unknown:
            out.append("this case was sealed before case files listed their attachments: the server could hide one unnoticed")
        return out


def check_listing(case_id: bytes, signed: CaseFile, reply_sign_key: bytes, listing: Listing) -> CheckedListing:
    """Which listed rows are the case's attachments: those the case file (version 3) lists as sealed with the
    intake, and those in the helper's signed list (checked against the reply key the helper signed into the
    case file). Rows nothing names are left out (`injected`); named ids with no row are `hidden`. A server
    can still serve an older signed list, hiding what was added after it (protocol doc §8b).
    Shown by tests/hostile/test_cases.py: test_hidden_and_injected_attachments_are_noticed,
    test_a_list_the_helper_did_not_sign_is_ignored."""
    named = set(signed.listed_attachments or ())
    serial, problem = 0, None
    listed_ids: frozenset[bytes] = frozenset()
    if listing.signed is not None:
        try:
            attachment_list = from_wire(AttachmentList, listing.signed)
            verify_attachment_list(attachment_list, case_id=case_id, reply_sign_key=reply_sign_key)
            serial, listed_ids = attachment_list.serial, frozenset(attachment_list.attachment_ids)
        except (EncodingError, ProofError) as exc:
            problem = f"the server serves an attachment list the helper did not sign ({exc}): ignored"
    named |= listed_ids
    unknown = signed.listed_attachments is None and not listed_ids
    rows, seen, injected = [], set(), 0
    for row in listing.rows:
        try:
            attachment_id = b64u_decode(str(row.get("attachment_id")), length=16)
        except EncodingError:
            injected += 1
            continue
        if attachment_id in seen:
            injected += 1
            continue
        seen.add(attachment_id)
        if attachment_id in named or unknown:
            rows.append(row)
        else:
            injected += 1
    hidden = sorted(b64u_encode(i) for i in named - seen)
    return CheckedListing(rows, hidden, injected, unknown, listed_ids, serial, problem)


def describe_all(
    rows: list[dict[str, Any]], *, case_id: bytes, openers: list[Opener], reply_sign_key: bytes
) -> list[dict[str, Any]]:
    """The attachments of a case with what the caller can read of them (names of sealed ones stay hidden)."""
    out = []
    for row in rows:
        item = {
            "attachment_id": row["attachment_id"],
            "complete": row["complete"],
            "padded_size": row["padded_size"],
            "day": row["day"],
        }
        try:
            d = open_descriptor(
                b64u_decode(row["descriptor"]),
                case_id=case_id,
                attachment_id=b64u_decode(row["attachment_id"], length=16),
                openers=openers,
                reply_sign_key=reply_sign_key,
            )
            item.update(kind=d.kind, name=d.name, media_type=d.media_type, size=d.size, removed=list(d.removed))
        except DecryptionError as exc:  # sealed with the identity (or to keys this device does not hold)
            item.update(kind="sealed", name=f"({exc})")
        except TesseraError as exc:  # opened, but forged or damaged: said so, never shown as sealed
            item.update(kind="damaged", name=f"(does not verify: {exc})")
        out.append(item)
    return out


async def _descriptor(
    api: Api, *, case_id: bytes, attachment_id: bytes, openers: list[Opener], reply_sign_key: bytes
) -> AttachmentDescriptor:
    state = await api.attachment(case_id, attachment_id)
    if not state["complete"]:
        raise UsageError(f"this attachment is still being uploaded ({state['received']} of {state['chunks']} chunks)")
    return open_descriptor(
        b64u_decode(state["descriptor"]),
        case_id=case_id,
        attachment_id=attachment_id,
        openers=openers,
        reply_sign_key=reply_sign_key,
    )


async def _open_chunks(
    api: Api,
    case_id: bytes,
    attachment_id: bytes,
    descriptor: AttachmentDescriptor,
    write: Callable[[bytes], object],
    progress: ByteProgress | None = None,
) -> None:
    """Stream the chunks, open each and hand the plaintext to `write` (counted on `progress` when given);
    `opener.finish()` at the end raises when anything was cut off or reordered, so a caller uses what it was given
    only after this returns."""
    opener = StreamOpener(descriptor)
    size = opener.layout.chunk_sealed
    failures = 0
    while opener.index < opener.layout.count:
        buffer = bytearray()
        try:
            async for block in api.chunks(case_id, attachment_id, first=opener.index):
                buffer += block
                while len(buffer) >= size:
                    plain = opener.open(bytes(buffer[:size]))
                    del buffer[:size]
                    write(plain)
                    if progress is not None:
                        progress.add(len(plain))
        except ServerUnreachableError:
            failures += 1
            if failures >= RETRIES:
                raise
            await _sleep(min(2**failures, 10) * BACKOFF)
            continue  # resume from the next chunk this device has not opened yet
        if buffer:
            raise ApiError(200, "bad_response", "the server sent a partial chunk at the end")
        break  # the answer ended; finish() below says whether anything is missing
    opener.finish()


async def download(
    api: Api,
    *,
    case_id: bytes,
    attachment_id: bytes,
    openers: list[Opener],
    reply_sign_key: bytes,
    out: Path,
) -> AttachmentDescriptor:
    """Fetch, check and open one attachment into `out` (written as OUT.partial, renamed when complete).

    Raises DecryptionError / ProofError when the stream or its descriptor was altered, truncated or
    reordered (nothing is left at `out`), ApiError and ServerUnreachableError as usual.
    """
    descriptor = await _descriptor(
        api, case_id=case_id, attachment_id=attachment_id, openers=openers, reply_sign_key=reply_sign_key
    )
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("wb") as handle, ByteProgress(f"downloading {descriptor.name}", descriptor.size) as progress:
            os.fchmod(handle.fileno(), 0o600)
            await _open_chunks(api, case_id, attachment_id, descriptor, handle.write, progress)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return descriptor


async def read_attachment(
    api: Api,
    *,
    case_id: bytes,
    attachment_id: bytes,
    openers: list[Opener],
    reply_sign_key: bytes,
    max_size: int,
) -> tuple[AttachmentDescriptor, bytes]:
    """Fetch, check and open one attachment into memory, never onto disk (the app shows it). Only a stream that
    opened whole is returned; raises UsageError when it is larger than `max_size`, else as `download`."""
    descriptor = await _descriptor(
        api, case_id=case_id, attachment_id=attachment_id, openers=openers, reply_sign_key=reply_sign_key
    )
    if descriptor.size > max_size:
        raise UsageError(
            f"{descriptor.name} is {descriptor.size} bytes, more than this app opens in memory: use `tessera cases "
            "fetch-attachment`"
        )
    data = bytearray()
    await _open_chunks(api, case_id, attachment_id, descriptor, data.extend)
    return descriptor, bytes(data)
