"""Handlers: read the request's path and query, call one service, return its answer. No domain rules here.

The adapter (server/http/adapter.py) hands each handler its route's body already parsed and serialises what it
returns with the route's status: a JSON object, or a `Reply` with the status for a route that has more than one.
The chunk download returns its own streaming response."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from keys.accounts import AccountPublic
from keys.attachments import AttachmentList
from keys.decisions import Proposal, Vote
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope
from keys.invites import Grant
from keys.messages import SealedMessage
from keys.reveal import PartialDecryption, RevealRequest
from keys.tokens import IssueRequest
from keys.wire import to_wire
from keys.witness import Cosignature
from server.errors import BadRequestError, NotFoundError, ServiceError
from server.http.adapter import Body, Reply
from server.http.keys import OPENAPI, PAID, PRINCIPAL, SERVICES
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

JSON = dict[str, Any]  # an answer: the adapter serialises it


def query_int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.lstrip("-").isdigit() or len(value) > 12:
        raise BadRequestError(f"{name} must be a whole number")
    return int(value)


async def health(request: web.Request) -> JSON:
    return {"status": "ok"}


async def openapi(request: web.Request) -> JSON:
    return request.app[OPENAPI]


async def invite_grant(request: web.Request, body: InviteSecret) -> JSON:
    """The grant, with the key directory for the joining device to verify it against before it signs."""
    grant = await accounts.invite_grant(request.app[SERVICES], body.invite_id, body.secret)
    return {"grant": to_wire(grant), "directory": await checkpointed.directory(request.app[SERVICES], -1)}


async def join(request: web.Request, body: JoinRequest) -> JSON:
    seq = await accounts.join(
        request.app[SERVICES],
        invite_id=body.invite_id,
        secret=body.secret,
        keys=AccountPublic(sign_key=body.sign_key, box_key=body.box_key),
        signature=body.signature,
        at=(body.seq, body.prev, body.day),
    )
    return {"directory_seq": seq}


async def directory(request: web.Request) -> JSON:
    return await checkpointed.directory(request.app[SERVICES], query_int(request, "after", -1))


async def issue_tokens(request: web.Request, body: IssueRequest) -> JSON:
    response = await tokens.issue(request.app[SERVICES], request[PRINCIPAL], body)
    return {"response": to_wire(response)}


async def cosign(request: web.Request, body: Cosignature) -> JSON:
    await witnesses.cosign(request.app[SERVICES], request[PRINCIPAL], body)
    return {"ok": True}


async def accounts_list(request: web.Request) -> JSON:
    rows = await accounts.list_accounts(request.app[SERVICES], request[PRINCIPAL])
    return {
        "accounts": [
            {"account": r.account, "role": r.role, "revoked": r.revoked, "sign_key": b64u_encode(r.sign_key)} for r in rows
        ]
    }


async def pending_invites(request: web.Request) -> JSON:
    return {"invites": await accounts.pending_invites(request.app[SERVICES], request[PRINCIPAL])}


async def resign_invite(request: web.Request, grant: Grant) -> JSON:
    invite_id = parse_id(request.match_info["invite_id"], "invite_id")
    await accounts.resign_invite(request.app[SERVICES], request[PRINCIPAL], invite_id, grant)
    return {"invite_id": b64u_encode(invite_id)}


async def create_invite(request: web.Request, grant: Grant) -> JSON:
    issued = await accounts.create_invite(request.app[SERVICES], request[PRINCIPAL], grant)
    return {"invite_id": b64u_encode(issued.invite_id), "secret": issued.secret, "grant": to_wire(issued.grant)}


async def revoke(request: web.Request, body: RevokeRequest) -> JSON:
    at = (body.seq, body.prev, body.day)
    seq = await accounts.revoke(request.app[SERVICES], request[PRINCIPAL], request.match_info["account"], body.signature, at=at)
    return {"directory_seq": seq}


async def rotate(request: web.Request, body: RotateRequest) -> JSON:
    keys = AccountPublic(sign_key=body.sign_key, box_key=body.box_key)
    seq = await accounts.rotate(
        request.app[SERVICES],
        request[PRINCIPAL],
        request.match_info["account"],
        keys,
        body.signatures,
        at=(body.seq, body.prev, body.day),
    )
    return {"directory_seq": seq}


async def open_ceremony(request: web.Request, body: OpenCeremony) -> JSON:
    return await ceremonies.open_ceremony(
        request.app[SERVICES], request[PRINCIPAL], threshold=body.threshold, members=list(body.members)
    )


async def open_redistribution(request: web.Request, body: OpenRedistribution) -> JSON:
    return await redistribution.open_redistribution(
        request.app[SERVICES],
        request[PRINCIPAL],
        threshold=body.threshold,
        members=list(body.members),
        dealers=list(body.dealers) or None,
    )


async def my_wraps(request: web.Request) -> JSON:
    after_text = request.query.get("after")
    after = parse_id(after_text, "after") if after_text else None
    items = await wraps.my_wraps(request.app[SERVICES], request[PRINCIPAL], after=after, limit=query_int(request, "limit", 500))
    return {"wraps": items}


async def add_wraps(request: web.Request, body: AddWraps) -> JSON:
    added = await wraps.add_wraps(
        request.app[SERVICES], request[PRINCIPAL], [(w.case_id, w.recipient, w.sealed) for w in body.wraps]
    )
    return {"added": added}


def _after(request: web.Request) -> bytes | None:
    text = request.query.get("after")
    return parse_id(text, "after") if text else None


async def rekey_status(request: web.Request) -> JSON:
    return await rekey.status(request.app[SERVICES], request[PRINCIPAL])


async def rekey_headers(request: web.Request) -> JSON:
    return await rekey.headers_to_switch(
        request.app[SERVICES], request[PRINCIPAL], after=_after(request), limit=query_int(request, "limit", rekey.MAX_BATCH)
    )


async def rekey_contribute(request: web.Request, body: SwitchBatch) -> JSON:
    return await rekey.contribute(request.app[SERVICES], request[PRINCIPAL], body.contributions)


async def rekey_switched(request: web.Request) -> JSON:
    return await rekey.switched_to_attest(
        request.app[SERVICES], request[PRINCIPAL], after=_after(request), limit=query_int(request, "limit", rekey.MAX_BATCH)
    )


async def rekey_attest(request: web.Request, body: AttestRoot) -> JSON:
    services, principal = request.app[SERVICES], request[PRINCIPAL]
    return await rekey.attest(services, principal, root=body.root, size=body.size, signature=body.signature)


async def ceremony_status(request: web.Request) -> JSON:
    status = await ceremonies.ceremony_status(request.app[SERVICES], request[PRINCIPAL])
    if status is None:
        raise NotFoundError("no ceremony has been opened yet")
    return status


async def ceremony_post(request: web.Request, post: CeremonyPost) -> JSON:
    try:
        body = json.loads(post.body)
    except ValueError as exc:
        raise BadRequestError("body: not JSON text") from exc
    ceremony_id = parse_id(request.match_info["ceremony_id"], "ceremony_id")
    return await ceremonies.post_message(request.app[SERVICES], request[PRINCIPAL], ceremony_id, post.kind, body)


async def ceremony_fetch(request: web.Request) -> JSON:
    ceremony_id = parse_id(request.match_info["ceremony_id"], "ceremony_id")
    return await ceremonies.fetch_messages(request.app[SERVICES], request[PRINCIPAL], ceremony_id, query_int(request, "after", 0))


async def put_case(request: web.Request, body: Body[IntakeEnvelope]) -> JSON:
    """The intake is stored and its receipt digested from the JSON as sent (`body.wire`, Route.as_sent)."""
    case_id = parse_id(request.match_info["case_id"], "case_id")
    receipt = await cases.submit_intake(
        request.app[SERVICES], request[PRINCIPAL], case_id, body.value, body.wire, paid=request.get(PAID)
    )
    return {
        "case_id": b64u_encode(receipt.case_id),
        "receipt": b64u_encode(receipt.receipt),
        "day": receipt.day,
        "signed_receipt": to_wire(receipt.signed),
    }


async def list_cases(request: web.Request) -> JSON:
    cursor_text = request.query.get("cursor")
    cursor = parse_id(cursor_text, "cursor") if cursor_text else None
    page, nxt = await cases.list_cases(
        request.app[SERVICES],
        request[PRINCIPAL],
        state=request.query.get("state"),
        cursor=cursor,
        limit=query_int(request, "limit", 50),
    )
    return {"cases": page, "next_cursor": b64u_encode(nxt) if nxt else None}


async def case_page(request: web.Request) -> JSON:
    cursor_text = request.query.get("cursor")
    cursor = parse_id(cursor_text, "cursor") if cursor_text else None
    page, nxt = await casepage.case_page(
        request.app[SERVICES],
        request[PRINCIPAL],
        state=request.query.get("state"),
        cursor=cursor,
        limit=query_int(request, "limit", 50),
    )
    return {"cases": page, "next_cursor": b64u_encode(nxt) if nxt else None}


async def get_case(request: web.Request) -> JSON:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    data = await cases.get_case(request.app[SERVICES], request[PRINCIPAL], case_id)
    data["envelope"] = to_wire(data["envelope"])
    return data


async def file_reveal(request: web.Request, body: RevealRequest) -> JSON:
    await reveals.file_request(request.app[SERVICES], request[PRINCIPAL], body)
    return {"request_id": b64u_encode(body.request_id)}


async def pending_reveals(request: web.Request) -> JSON:
    return {"requests": await reveals.pending(request.app[SERVICES], request[PRINCIPAL])}


async def get_reveal(request: web.Request) -> JSON:
    request_id = parse_id(request.match_info["request_id"], "request_id")
    return await reveals.get_request(request.app[SERVICES], request[PRINCIPAL], request_id)


async def post_partial(request: web.Request, partial: PartialDecryption) -> JSON:
    request_id = parse_id(request.match_info["request_id"], "request_id")
    count = await reveals.post_partial(request.app[SERVICES], request[PRINCIPAL], request_id, partial)
    return {"approvals": count}


async def propose(request: web.Request, proposal: Proposal) -> JSON:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    await decisions.propose(request.app[SERVICES], request[PRINCIPAL], case_id, proposal)
    return {"proposal_id": b64u_encode(proposal.proposal_id)}


async def open_proposals(request: web.Request) -> JSON:
    return {"proposals": await decisions.open_proposals(request.app[SERVICES], request[PRINCIPAL])}


async def get_proposal(request: web.Request) -> JSON:
    proposal_id = parse_id(request.match_info["proposal_id"], "proposal_id")
    return await decisions.get_proposal(request.app[SERVICES], request[PRINCIPAL], proposal_id)


async def vote(request: web.Request, ballot: Vote) -> JSON:
    proposal_id = parse_id(request.match_info["proposal_id"], "proposal_id")
    state = await decisions.cast_vote(request.app[SERVICES], request[PRINCIPAL], proposal_id, ballot)
    return {"state": state}


async def post_message(request: web.Request, message: SealedMessage) -> JSON:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    seq = await messages.post_message(request.app[SERVICES], request[PRINCIPAL], case_id, message)
    return {"seq": seq}


async def list_messages(request: web.Request) -> JSON:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    items = await messages.list_messages(request.app[SERVICES], request[PRINCIPAL], case_id, query_int(request, "after", 0))
    return {"messages": items}


async def audit_log(request: web.Request) -> JSON:
    after, limit = query_int(request, "after", 0), query_int(request, "limit", checkpointed.AUDIT_PAGE)
    return await checkpointed.audit_page(request.app[SERVICES], request[PRINCIPAL], after, limit)


async def policy(request: web.Request) -> JSON:
    """The organisation's retention periods (days after the intake day, per case state; 0 keeps forever) and
    quorum rules, as this server is configured: what members and administrators see in the app."""
    config = request.app[SERVICES].config
    return {"v": 1, "retention": dict(config.retention), "quorum": dict(config.quorum)}


def _attachment_ids(request: web.Request) -> tuple[bytes, bytes]:
    return (
        parse_id(request.match_info["case_id"], "case_id"),
        parse_id(request.match_info["attachment_id"], "attachment_id"),
    )


async def new_attachment(request: web.Request, body: NewAttachment) -> Reply:
    """201 for a new attachment, 200 for one registered before (idempotent)."""
    case_id = parse_id(request.match_info["case_id"], "case_id")
    state, created = await attachments.create(
        request.app[SERVICES], request[PRINCIPAL], case_id, body.attachment_id, body.descriptor, body.padded_size
    )
    return Reply(state, 201 if created else 200)


async def list_attachments(request: web.Request) -> JSON:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    rows, listing = await attachments.list_for_case(request.app[SERVICES], request[PRINCIPAL], case_id)
    return {"attachments": rows, "list": listing}


async def put_attachment_list(request: web.Request, listing: AttachmentList) -> JSON:
    case_id = parse_id(request.match_info["case_id"], "case_id")
    return await attachments.put_list(request.app[SERVICES], request[PRINCIPAL], case_id, listing)


async def attachment_status(request: web.Request) -> JSON:
    case_id, attachment_id = _attachment_ids(request)
    return await attachments.status(request.app[SERVICES], request[PRINCIPAL], case_id, attachment_id)


async def put_attachment_chunks(request: web.Request, body: bytearray) -> JSON:
    """`body`: the sealed chunks, read, size-checked and hashed by the authentication middleware."""
    case_id, attachment_id = _attachment_ids(request)
    if "from" not in request.query:
        raise BadRequestError("from: the number of the first chunk in this part is required")
    first = query_int(request, "from", 0)
    return await attachments.put_chunks(request.app[SERVICES], request[PRINCIPAL], case_id, attachment_id, first, body)


async def get_attachment_chunks(request: web.Request) -> web.StreamResponse:
    """The one handler that makes its own response: a stream of the sealed chunks (the adapter passes it on)."""
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
