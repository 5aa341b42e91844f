"""The route table: every route with the roles that may call it, the body it takes and what it answers. The
authentication middleware enforces the roles, one adapter (server/http/adapter.py) parses each body into its
route's type and serialises each handler's answer with the route's status, the OpenAPI document and docs/api.md
are generated from this table, and the tests walk it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from contract.routes import ANSWERS
from keys.attachments import CHUNK, CHUNK_OVERHEAD, AttachmentList
from keys.decisions import Proposal, Vote
from keys.envelope import IntakeEnvelope
from keys.invites import Grant
from keys.messages import SealedMessage
from keys.reveal import PartialDecryption, RevealRequest
from keys.tokens import IssueRequest
from keys.witness import Cosignature
from server.http import handlers as h
from server.http import schemas as b
from server.http.adapter import Reply
from server.services.attachments import MAX_PART_CHUNKS

# (request) or (request, body) -> the answer: a JSON object, a Reply, or a stream (server/http/adapter.py)
Handler = Callable[..., Awaitable[dict[str, Any] | Reply | web.StreamResponse]]
ALL_ROLES = frozenset({"helper", "council", "admin"})


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    roles: frozenset[str] | None  # None: no authentication (health, enrolment, the API document)
    body: type | None  # a wire type (JSON), bytes (application/octet-stream) or None
    summary: str
    max_body: int | None = None  # None: the server's max_body setting
    # anonymous submission tokens (protocol doc §10.6): "spend" - a new intake may come as a case principal paying
    # with a token; "show" - a read a token admits without naming anyone (the key directory, before sealing)
    tokens: str = ""
    as_sent: bool = False  # the handler gets a Body: the parsed value with the JSON as sent (stored, digested)

    @property
    def response(self) -> type:
        """What it answers: a type of contract/answers.py (JSON) or bytes (application/octet-stream)."""
        return ANSWERS[(self.method, self.path)].type

    @property
    def status(self) -> tuple[int, ...]:
        """The success statuses it answers with."""
        return ANSWERS[(self.method, self.path)].status


PART_LIMIT = MAX_PART_CHUNKS * (CHUNK + CHUNK_OVERHEAD)  # the largest attachment part


ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/health", h.health, None, None, "Liveness."),
    Route("GET", "/v1/openapi.json", h.openapi, None, None, "This API as an OpenAPI 3.1 document."),
    Route(
        "POST",
        "/v1/invites/grant",
        h.invite_grant,
        None,
        b.InviteSecret,
        "The grant a joining device signs (needs the invite secret).",
    ),
    Route(
        "POST",
        "/v1/join",
        h.join,
        None,
        b.JoinRequest,
        "Join with an invite: registers the device keys.",
    ),
    Route(
        "GET",
        "/v1/directory",
        h.directory,
        ALL_ROLES | {"token"},
        None,
        "Key-directory entries after ?after=SEQ, with a signed checkpoint (also for an anonymous token: X-Tessera-Token).",
        tokens="show",
    ),
    Route(
        "POST",
        "/v1/directory/cosignatures",
        h.cosign,
        frozenset({"council"}),
        Cosignature,
        "A council member's cosignature of the key-directory head it verified (a witness).",
    ),
    Route(
        "POST",
        "/v1/tokens",
        h.issue_tokens,
        frozenset({"helper"}),
        IssueRequest,
        "Anonymous submission tokens: the blinded nonces evaluated under this period's key, within your budget.",
    ),
    Route(
        "GET",
        "/v1/accounts",
        h.accounts_list,
        frozenset({"admin", "council"}),
        None,
        "Accounts, roles and keys.",
    ),
    Route(
        "POST",
        "/v1/invites",
        h.create_invite,
        frozenset({"admin"}),
        Grant,
        "Create an invite from a signed grant.",
    ),
    Route(
        "GET",
        "/v1/invites",
        h.pending_invites,
        frozenset({"admin"}),
        None,
        "Invites not used yet and not expired, with their signed grants (no secrets).",
    ),
    Route(
        "PUT",
        "/v1/invites/{invite_id}/grant",
        h.resign_invite,
        frozenset({"admin"}),
        Grant,
        "Your pending invite's grant signed again with your new keys (after rotate-keys); same account, role, expiry.",
    ),
    Route(
        "POST",
        "/v1/accounts/{account}/revoke",
        h.revoke,
        ALL_ROLES,
        b.RevokeRequest,
        "Revoke an account (admin, or itself).",
    ),
    Route(
        "POST",
        "/v1/accounts/{account}/rotate",
        h.rotate,
        ALL_ROLES,
        b.RotateRequest,
        "Replace your own device keys (not council).",
    ),
    Route(
        "POST",
        "/v1/ceremonies",
        h.open_ceremony,
        frozenset({"admin"}),
        b.OpenCeremony,
        "Open a key ceremony (DKG).",
    ),
    Route(
        "POST",
        "/v1/ceremonies/redistribute",
        h.open_redistribution,
        frozenset({"admin"}),
        b.OpenRedistribution,
        "Open a council membership change (same key, new shares).",
    ),
    Route(
        "GET",
        "/v1/rekey",
        h.rekey_status,
        frozenset({"admin", "council"}),
        None,
        "The latest council re-key: how many identity headers are switched, who contributed and attested.",
    ),
    Route(
        "GET",
        "/v1/rekey/headers",
        h.rekey_headers,
        frozenset({"council"}),
        None,
        "Old member: the next headers you have not contributed a key switch to, ?after=CASE&limit=N.",
    ),
    Route(
        "POST",
        "/v1/rekey/contributions",
        h.rekey_contribute,
        frozenset({"council"}),
        b.SwitchBatch,
        "Old member: key-switch contributions with proofs, each verified on arrival.",
    ),
    Route(
        "GET",
        "/v1/rekey/switched",
        h.rekey_switched,
        frozenset({"council"}),
        None,
        "New member: switched headers with what they came from, ?after=CASE&limit=N.",
    ),
    Route(
        "POST",
        "/v1/rekey/attestation",
        h.rekey_attest,
        frozenset({"council"}),
        b.AttestRoot,
        "New member: sign the Merkle root of all switched headers.",
    ),
    Route(
        "GET",
        "/v1/wraps",
        h.my_wraps,
        frozenset({"council"}),
        None,
        "Your case-key wraps, ?after=CASE&limit=N.",
    ),
    Route(
        "POST",
        "/v1/wraps",
        h.add_wraps,
        frozenset({"council"}),
        b.AddWraps,
        "Add wraps re-made for new members.",
    ),
    Route(
        "GET",
        "/v1/ceremonies/current",
        h.ceremony_status,
        frozenset({"admin", "council"}),
        None,
        "The latest ceremony and its progress.",
    ),
    Route(
        "POST",
        "/v1/ceremonies/{ceremony_id}/messages",
        h.ceremony_post,
        frozenset({"council"}),
        b.CeremonyPost,
        "Post a round message.",
    ),
    Route(
        "GET",
        "/v1/ceremonies/{ceremony_id}/messages",
        h.ceremony_fetch,
        frozenset({"council"}),
        None,
        "Broadcasts and your shares.",
    ),
    Route(
        "PUT",
        "/v1/cases/{case_id}",
        h.put_case,
        frozenset({"helper", "case"}),
        IntakeEnvelope,
        "Submit an intake (idempotent): as principal case:<id>, signed with the envelope's reply key, paying with an "
        "anonymous token (X-Tessera-Token); or signed by a helper's account.",
        tokens="spend",
        as_sent=True,
    ),
    Route("GET", "/v1/cases", h.list_cases, frozenset({"council"}), None, "Cases, ?state=&cursor=&limit=."),
    Route(
        "GET",
        "/v1/case-pages",
        h.case_page,
        frozenset({"council"}),
        None,
        "Whole cases as GET /v1/cases/{case_id} answers them (your key wrap, decisions, message counts), "
        "?state=&cursor=&limit= (up to 100).",
    ),
    Route(
        "GET",
        "/v1/cases/{case_id}",
        h.get_case,
        frozenset({"council", "case"}),
        None,
        "A case with your key wrap and its decisions.",
    ),
    Route(
        "POST",
        "/v1/reveals",
        h.file_reveal,
        frozenset({"council"}),
        RevealRequest,
        "File a blinded reveal request.",
    ),
    Route(
        "GET",
        "/v1/reveals",
        h.pending_reveals,
        frozenset({"council"}),
        None,
        "Requests you may approve.",
    ),
    Route(
        "GET",
        "/v1/reveals/{request_id}",
        h.get_reveal,
        frozenset({"council"}),
        None,
        "Your request and its partials.",
    ),
    Route(
        "POST",
        "/v1/reveals/{request_id}/partials",
        h.post_partial,
        frozenset({"council"}),
        PartialDecryption,
        "Approve: post your partial.",
    ),
    Route(
        "POST",
        "/v1/cases/{case_id}/proposals",
        h.propose,
        frozenset({"council"}),
        Proposal,
        "Propose a decision.",
    ),
    Route(
        "GET",
        "/v1/proposals",
        h.open_proposals,
        frozenset({"council"}),
        None,
        "The open proposals (up to 500), each as signed with its votes as signed.",
    ),
    Route(
        "GET",
        "/v1/proposals/{proposal_id}",
        h.get_proposal,
        frozenset({"council"}),
        None,
        "A proposal and its votes, as signed (shown to a member before they vote).",
    ),
    Route(
        "POST",
        "/v1/proposals/{proposal_id}/votes",
        h.vote,
        frozenset({"council"}),
        Vote,
        "Vote on a proposal.",
    ),
    Route(
        "POST",
        "/v1/cases/{case_id}/messages",
        h.post_message,
        frozenset({"council", "case"}),
        SealedMessage,
        "Post a sealed message.",
    ),
    Route(
        "GET", "/v1/cases/{case_id}/messages", h.list_messages, frozenset({"council", "case"}), None, "Messages after ?after=SEQ."
    ),
    Route(
        "POST",
        "/v1/cases/{case_id}/attachments",
        h.new_attachment,
        frozenset({"case"}),
        b.NewAttachment,
        "Register an attachment (its sealed descriptor and padded size); idempotent.",
    ),
    Route(
        "GET",
        "/v1/cases/{case_id}/attachments",
        h.list_attachments,
        frozenset({"council", "case"}),
        None,
        "A case's attachments: sealed descriptors and upload progress, and the helper's signed list of them.",
    ),
    Route(
        "PUT",
        "/v1/cases/{case_id}/attachment-list",
        h.put_attachment_list,
        frozenset({"case"}),
        AttachmentList,
        "The helper's signed list of all the case's attachments (kept if later than the one held).",
    ),
    Route(
        "GET",
        "/v1/cases/{case_id}/attachments/{attachment_id}",
        h.attachment_status,
        frozenset({"council", "case"}),
        None,
        "One attachment: how many chunks the server holds (resume from there).",
    ),
    Route(
        "PUT",
        "/v1/cases/{case_id}/attachments/{attachment_id}/chunks",
        h.put_attachment_chunks,
        frozenset({"case"}),
        bytes,
        "Upload sealed chunks ?from=N (the next chunk the server lacks), up to 16 per request.",
        max_body=PART_LIMIT,
    ),
    Route(
        "GET",
        "/v1/cases/{case_id}/attachments/{attachment_id}/chunks",
        h.get_attachment_chunks,
        frozenset({"council", "case"}),
        None,
        "Download the sealed chunks ?from=N as one stream.",
    ),
    Route(
        "GET",
        "/v1/audit",
        h.audit_log,
        frozenset({"admin", "council"}),
        None,
        "Audit entries after ?after=SEQ, with a checkpoint.",
    ),
    Route(
        "GET",
        "/v1/policy",
        h.policy,
        frozenset({"admin", "council"}),
        None,
        "The retention periods and quorum rules this server is configured with.",
    ),
)
