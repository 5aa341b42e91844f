"""Handlers: parse the request, call one service, serialise the answer. No domain rules here."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web

from keys.accounts import AccountPublic
from keys.attachments import AttachmentList
from keys.decisions import Proposal, Vote
from keys.encoding import b64u_encode, parse_json
from keys.envelope import IntakeEnvelope
from keys.invites import Grant
from keys.messages import SealedMessage
from keys.reveal import PartialDecryption, RevealRequest
from keys.tokens import IssueRequest
from keys.wire import from_wire, to_wire
from keys.witness import Cosignature
from server.errors import BadRequestError, NotFoundError, ServiceError
from server.http.keys import BODY, OPENAPI, PAID, PRINCIPAL, RAW_BODY, SERVICES
from server.http.schemas import (
    AddWraps,
    AttestRoot,
    CeremonyPost,
    InviteSecret,
    JoinRequest,
    NewAttachment,
    OpenCeremony,
    OpenRedistribution,
    RevokeRequest,
    RotateRequest,
    SwitchBatch,
    parse_id,
)
from server.services import (
    accounts,
    attachments,
    casepage,
    cases,
    ceremonies,
    checkpointed,
    decisions,
    messages,
    redistribution,
    rekey,
    reveals,
    tokens,
    witnesses,
    wraps,
)

T = TypeVar("T")


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, separators=(",", ":")))


async def body_json(request: web.Request) -> Any:
    """The JSON body, as the authentication middleware read it (within the route's limit)."""
    return parse_json(request[BODY], what="request body")


async def body_as(request: web.Request, cls: type[T]) -> T:
    return (await body_with_wire(request, cls))[0]


async def body_with_wire(request: web.Request, cls: type[T]) -> tuple[T, Any]:
    """The body parsed into `cls`, and the JSON it was parsed from: `from_wire` takes only the canonical wire form,
    so a service that stores or digests what was signed keeps that JSON instead of encoding the object again."""
    wire = await body_json(request)
    return from_wire(cls, wire), wire


def query_int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.lstrip("-").isdigit() or len(value) > 12:
        raise BadRequestError(f"{name} must be a whole number")
    return int(value)


async def health(request: web.Request) -> web.Response:
    return reply({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return reply(request.app[OPENAPI])


async def invite_grant(request: web.Request) -> web.Response:
    """The grant, with the key directory for the joining device to verify it against before it signs."""
    body = await body_as(request, InviteSecret)
    grant = await accounts.invite_grant(request.app[SERVICES], body.invite_id, body.secret)
    return reply({"grant": to_wire(grant), "directory": await checkpointed.directory(request.app[SERVICES], -1)})


async def join(request: web.Request) -> web.Response:
    body = await body_as(request, JoinRequest)
    seq = await accounts.join(
        request.app[SERVICES],
        invite_id=body.invite_id,
        secret=body.secret,
        keys=AccountPublic(sign_key=body.sign_key, box_key=body.box_key),
        signature=body.signature,
        at=(body.seq, body.prev, body.day),
    )
    return reply({"directory_seq": seq}, status=201)


async def directory(request: web.Request) -> web.Response:
    return reply(await checkpointed.directory(request.app[SERVICES], query_int(request, "after", -1)))


async def issue_tokens(request: web.Request) -> web.Response:
    response = await tokens.issue(request.app[SERVICES], request[PRINCIPAL], await body_as(request, IssueRequest))
    return reply({"response": to_wire(response)})


async def cosign(request: web.Request) -> web.Response:
    await witnesses.cosign(request.app[SERVICES], request[PRINCIPAL], await body_as(request, Cosignature))
    return reply({"ok": True})


async def accounts_list(request: web.Request) -> web.Response:
    rows = await accounts.list_accounts(request.app[SERVICES], request[PRINCIPAL])
    return reply(
        {
            "accounts": [
                {"account": r.account, "role": r.role, "revoked": r.revoked, "sign_key": b64u_encode(r.sign_key)} for r in rows
            ]
        }
    )


async def pending_invites(request: web.Request) -> web.Response:
    return reply({"invites": await accounts.pending_invites(request.app[SERVICES], request[PRINCIPAL])})


async def resign_invite(request: web.Request) -> web.Response:
    invite_id = parse_id(request.match_info["invite_id"], "invite_id")
    await accounts.resign_invite(request.app[SERVICES], request[PRINCIPAL], invite_id, await body_as(request, Grant))
    return reply({"invite_id": b64u_encode(invite_id)})


async def create_invite(request: web.Request) -> web.Response:
    grant = await body_as(request, Grant)
    issued = await accounts.create_invite(request.app[SERVICES], request[PRINCIPAL], grant)
    return reply(
        {"invite_id": b64u_encode(issued.invite_id), "secret": issued.secret, "grant": to_wire(issued.grant)}, status=201
    )


async def revoke(request: web.Request) -> web.Response:
    body = await body_as(request, RevokeRequest)
    at = (body.seq, body.prev, body.day)
    seq = await accounts.revoke(request.app[SERVICES], request[PRINCIPAL], request.match_info["account"], body.signature, at=at)
    return reply({"directory_seq": seq})


async def rotate(request: web.Request) -> web.Response:
    body = await body_as(request, RotateRequest)
    keys = AccountPublic(sign_key=body.sign_key, box_key=body.box_key)
    seq = await accounts.rotate(
        request.app[SERVICES],
        request[PRINCIPAL],
        request.match_info["account"],
        keys,
        body.signatures,
        at=(body.seq, body.prev, body.day),
    )
    return reply({"directory_seq": seq})


async def open_ceremony(request: web.Request) -> web.Response:
    body = await body_as(request, OpenCeremony)
    result = await ceremonies.open_ceremony(
        request.app[SERVICES], request[PRINCIPAL], threshold=body.threshold, members=list(body.members)
    )
    return reply(result, status=201)


async def open_redistribution(request: web.Request) -> web.Response:
    body = await body_as(request, OpenRedistribution)
    result = await redistribution.open_redistribution(
        request.app[SERVICES],
        request[PRINCIPAL],
        threshold=body.threshold,
        members=list(body.members),
        dealers=list(body.dealers) or None,
    )
    return reply(result, status=201)


async def my_wraps(request: web.Request) -> web.Response:
    after_text = request.query.get("after")
    after = parse_id(after_text, "after") if after_text else None
    items = await wraps.my_wraps(request.app[SERVICES], request[PRINCIPAL], after=after, limit=query_int(request, "limit", 500))
    return reply({"wraps": items})


async def add_wraps(request: web.Request) -> web.Response:
    body = await body_as(request, AddWraps)
    added = await wraps.add_wraps(
        request.app[SERVICES], request[PRINCIPAL], [(w.case_id, w.recipient, w.sealed) for w in body.wraps]
    )
    return reply({"added": added}, status=201)


def _after(request: web.Request) -> bytes | None:
    text = request.query.get("after")
    return parse_id(text, "after") if text else None


async def rekey_status(request: web.Request) -> web.Response:
    return reply(await rekey.status(request.app[SERVICES], request[PRINCIPAL]))


async def rekey_headers(request: web.Request) -> web.Response:
    result = await rekey.headers_to_switch(
        request.app[SERVICES], request[PRINCIPAL], after=_after(request), limit=query_int(request, "limit", rekey.MAX_BATCH)
    )
    return reply(result)


async def rekey_contribute(request: web.Request) -> web.Response:
    body = await body_as(request, SwitchBatch)
    return reply(await rekey.contribute(request.app[SERVICES], request[PRINCIPAL], body.contributions), status=201)


async def rekey_switched(request: web.Request) -> web.Response:
    result = await rekey.switched_to_attest(
        request.app[SERVICES], request[PRINCIPAL], after=_after(request), limit=query_int(request, "limit", rekey.MAX_BATCH)
    )
    return reply(result)


async def rekey_attest(request: web.Request) -> web.Response:
    body = await body_as(request, AttestRoot)
    services, principal = request.app[SERVICES], request[PRINCIPAL]
    result = await rekey.attest(services, principal, root=body.root, size=body.size, signature=body.signature)
    return reply(result, status=201)


async def ceremony_status(request: web.Request) -> web.Response:
    status = await ceremonies.ceremony_status(request.app[SERVICES], request[PRINCIPAL])
    if status is None:
        raise NotFoundError("no ceremony has been opened yet")
    return reply(status)


async def ceremony_post(request: web.Request) -> web.Response:
    post = await body_as(request, CeremonyPost)
    try:
        body = json.loads(post.body)
    except ValueError as exc:
        raise BadRequestError("body: not JSON text") from exc
    ceremony_id = parse_id(request.match_info["ceremony_id"], "ceremony_id")
    return reply(await ceremonies.post_message(request.app[SERVICES], request[PRINCIPAL], ceremony_id, post.kind, body))


async def ceremony_fetch(request: web.Request) -> web.Response:
    ceremony_id = parse_id(request.match_info["ceremony_id"], "ceremony_id")
    return reply(
        await ceremonies.fetch_messages(request.app[SERVICES], request[PRINCIPAL], ceremony_id, query_int(request, "after", 0))
    )


async def put_case(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    envelope, wire = await body_with_wire(request, IntakeEnvelope)
    receipt = await cases.submit_intake(
        request.app[SERVICES], request[PRINCIPAL], case_id, envelope, wire, paid=request.get(PAID)
    )
    return reply(
        {
            "case_id": b64u_encode(receipt.case_id),
            "receipt": b64u_encode(receipt.receipt),
            "day": receipt.day,
            "signed_receipt": to_wire(receipt.signed),
        }
    )


async def list_cases(request: web.Request) -> web.Response:
    cursor_text = request.query.get("cursor")
    cursor = parse_id(cursor_text, "cursor") if cursor_text else None
    page, nxt = await cases.list_cases(
        request.app[SERVICES],
        request[PRINCIPAL],
        state=request.query.get("state"),
        cursor=cursor,
        limit=query_int(request, "limit", 50),
    )
    return reply({"cases": page, "next_cursor": b64u_encode(nxt) if nxt else None})


async def case_page(request: web.Request) -> web.Response:
    cursor_text = request.query.get("cursor")
    cursor = parse_id(cursor_text, "cursor") if cursor_text else None
    page, nxt = await casepage.case_page(
        request.app[SERVICES],
        request[PRINCIPAL],
        state=request.query.get("state"),
        cursor=cursor,
        limit=query_int(request, "limit", 50),
    )
    return reply({"cases": page, "next_cursor": b64u_encode(nxt) if nxt else None})


async def get_case(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    data = await cases.get_case(request.app[SERVICES], request[PRINCIPAL], case_id)
    data["envelope"] = to_wire(data["envelope"])
    return reply(data)


async def file_reveal(request: web.Request) -> web.Response:
    body = await body_as(request, RevealRequest)
    await reveals.file_request(request.app[SERVICES], request[PRINCIPAL], body)
    return reply({"request_id": b64u_encode(body.request_id)}, status=201)


async def pending_reveals(request: web.Request) -> web.Response:
    return reply({"requests": await reveals.pending(request.app[SERVICES], request[PRINCIPAL])})


async def get_reveal(request: web.Request) -> web.Response:
    request_id = parse_id(request.match_info["request_id"], "request_id")
    return reply(await reveals.get_request(request.app[SERVICES], request[PRINCIPAL], request_id))


async def post_partial(request: web.Request) -> web.Response:
    request_id = parse_id(request.match_info["request_id"], "request_id")
    partial = await body_as(request, PartialDecryption)
    count = await reveals.post_partial(request.app[SERVICES], request[PRINCIPAL], request_id, partial)
    return reply({"approvals": count}, status=201)


async def propose(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    proposal = await body_as(request, Proposal)
    await decisions.propose(request.app[SERVICES], request[PRINCIPAL], case_id, proposal)
    return reply({"proposal_id": b64u_encode(proposal.proposal_id)}, status=201)


async def open_proposals(request: web.Request) -> web.Response:
    return reply({"proposals": await decisions.open_proposals(request.app[SERVICES], request[PRINCIPAL])})


async def get_proposal(request: web.Request) -> web.Response:
    proposal_id = parse_id(request.match_info["proposal_id"], "proposal_id")
    return reply(await decisions.get_proposal(request.app[SERVICES], request[PRINCIPAL], proposal_id))


async def vote(request: web.Request) -> web.Response:
    proposal_id = parse_id(request.match_info["proposal_id"], "proposal_id")
    ballot = await body_as(request, Vote)
    state = await decisions.cast_vote(request.app[SERVICES], request[PRINCIPAL], proposal_id, ballot)
    return reply({"state": state}, status=201)


async def post_message(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    message = await body_as(request, SealedMessage)
    seq = await messages.post_message(request.app[SERVICES], request[PRINCIPAL], case_id, message)
    return reply({"seq": seq}, status=201)


async def list_messages(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    items = await messages.list_messages(request.app[SERVICES], request[PRINCIPAL], case_id, query_int(request, "after", 0))
    return reply({"messages": items})


async def audit_log(request: web.Request) -> web.Response:
    after, limit = query_int(request, "after", 0), query_int(request, "limit", checkpointed.AUDIT_PAGE)
    return reply(await checkpointed.audit_page(request.app[SERVICES], request[PRINCIPAL], after, limit))


async def policy(request: web.Request) -> web.Response:
    """The organisation's retention periods (days after the intake day, per case state; 0 keeps forever) and
    quorum rules, as this server is configured: what members and administrators see in the app."""
    config = request.app[SERVICES].config
    return reply({"v": 1, "retention": dict(config.retention), "quorum": dict(config.quorum)})


def _attachment_ids(request: web.Request) -> tuple[bytes, bytes]:
    return (
        parse_id(request.match_info["case_id"], "case_id"),
        parse_id(request.match_info["attachment_id"], "attachment_id"),
    )


async def new_attachment(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    body = await body_as(request, NewAttachment)
    state, created = await attachments.create(
        request.app[SERVICES], request[PRINCIPAL], case_id, body.attachment_id, body.descriptor, body.padded_size
    )
    return reply(state, status=201 if created else 200)


async def list_attachments(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    rows, listing = await attachments.list_for_case(request.app[SERVICES], request[PRINCIPAL], case_id)
    return reply({"attachments": rows, "list": listing})


async def put_attachment_list(request: web.Request) -> web.Response:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    listing = await body_as(request, AttachmentList)
    return reply(await attachments.put_list(request.app[SERVICES], request[PRINCIPAL], case_id, listing))


async def attachment_status(request: web.Request) -> web.Response:
    case_id, attachment_id = _attachment_ids(request)
    return reply(await attachments.status(request.app[SERVICES], request[PRINCIPAL], case_id, attachment_id))


async def put_attachment_chunks(request: web.Request) -> web.Response:
    case_id, attachment_id = _attachment_ids(request)
    if "from" not in request.query:
        raise BadRequestError("from: the number of the first chunk in this part is required")
    first = query_int(request, "from", 0)
    body = request[RAW_BODY]  # read, size-checked and hashed by the authentication middleware
    state = await attachments.put_chunks(request.app[SERVICES], request[PRINCIPAL], case_id, attachment_id, first, body)
    return reply(state)


async def get_attachment_chunks(request: web.Request) -> web.StreamResponse:
    case_id, attachment_id = _attachment_ids(request)
    first = query_int(request, "from", 0)
    services = request.app[SERVICES]
    layout, count = await attachments.open_download(services, request[PRINCIPAL], case_id, attachment_id, first)
    response = web.StreamResponse(
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(count * layout.chunk_sealed)}
    )
    await response.prepare(request)
    try:
        async for data in attachments.chunks(services, attachment_id, first, count):
            await response.write(data)
    except ServiceError:
        # the answer has started: a short body and a closed connection tell the client it is cut
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
