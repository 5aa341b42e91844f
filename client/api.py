"""HTTP only: signed requests to a Tessera server. No crypto beyond signing, no files, no printing.

Every route of the API (contract/routes.py) has one method on `Api` here, named for what it does (`Api.case`,
`Api.post_message`, ...): the rest of the client never builds a URL or names a route, and every answer is checked
against its route's type before it is returned (`check`). The generic `call`, `call_json`, `put_bytes`,
`put_pieces` and `stream` are the transport those methods use; tests and benches use them to send what no honest
client would. tests/client/test_api_routes.py holds the client to that: no other module of client/ calls them or
names a route, and every route has exactly one method."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
from yarl import URL

from contract.parse import check_answer
from contract.routes import ANSWERS, route_of
from keys.accounts import AccountKeys
from keys.encoding import b64u_encode
from keys.errors import EncodingError
from keys.requests import CASE_PRINCIPAL_PREFIX, sign_request
from keys.tokens import TOKEN_HEADER, Token, token_header
from keys.wire import to_wire

if TYPE_CHECKING:
    from keys.attachments import AttachmentList
    from keys.decisions import Proposal, Vote
    from keys.invites import Grant
    from keys.messages import SealedMessage
    from keys.reveal import PartialDecryption, RevealRequest
    from keys.tokens import IssueRequest
    from keys.witness import Cosignature

JSON = dict[str, Any]  # an answer, checked against its route's type in contract/answers.py (named in each method)

# ProxyError: the SOCKS proxy (Tor) is not running, or refuses or cannot reach the server
_CONNECTION_ERRORS = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
    OSError,
    ProxyError,
    ProxyConnectionError,
    ProxyTimeoutError,
)


class ApiError(Exception):
    """The server answered with an error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status, self.code, self.message = status, code, message


class HostileServerError(Exception):
    """The server sent something that this device's verified records contradict: it lied."""


class MalformedAnswerError(HostileServerError):
    """The server's answer does not have its route's shape (contract/routes.py): a field missing or of another
    type. Refused before any of it is used, as a lie: an honest server answers as its contract says."""


class ServerUnreachableError(Exception):
    """The server did not answer."""


class ServerBusyError(ApiError):
    """The server had no room for the request now (503) and said when to try again."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(503, "busy", message)
        self.retry_after = retry_after


BUSY_RETRIES = 3  # a 503 with Retry-After is tried again this often (the server read nothing of the request)
BUSY_WAIT_MAX = 30.0

class Api:
    """One principal talking to one server. `principal` is an account name or `case:<id>` (reply key)."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        keys: AccountKeys | None = None,
        principal: str | None = None,
        clock: Callable[[], float] = time.time,
        token: Token | None = None,
        isolate: Callable[[str], aiohttp.ClientSession] | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session = session
        self.keys = keys
        self.principal = principal
        self.clock = clock
        self.token = token  # an anonymous submission token sent with every request (X-Tessera-Token)
        # a case principal's requests go on connections of their own (client/net.py Isolation), never on the
        # account's: the server cannot tie a case to its helper by the connection (protocol doc §10.6)
        self.isolate = isolate

    def as_principal(self, principal: str, keys: AccountKeys) -> Api:
        http = self.session
        if self.isolate is not None and principal.startswith(CASE_PRINCIPAL_PREFIX):
            http = self.isolate(principal)
        return Api(self.base, http, keys=keys, principal=principal, clock=self.clock, token=self.token, isolate=self.isolate)

    def with_token(self, token: Token) -> Api:
        """This principal (or none: a read the token alone admits) with `token` on every request."""
        return Api(
            self.base, self.session, keys=self.keys, principal=self.principal, clock=self.clock, token=token, isolate=self.isolate
        )

    async def call(
        self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None, auth: bool = True
    ) -> Any:
        data = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return await self._when_room(lambda: self._send(method, path, data, dict(headers), query, auth=auth))

    async def call_json(self, method: str, path: str, data: bytes) -> Any:
        """A signed request whose body is `data`, JSON bytes sent as they are (an intake as it was sealed: the
        bytes the receipt digests are the bytes this device kept, never decoded and encoded again)."""
        headers = {"Content-Type": "application/json"}
        return await self._when_room(lambda: self._send(method, path, data, dict(headers), None, auth=True))

    async def put_bytes(self, path: str, data: bytes, *, query: Mapping[str, Any] | None = None) -> Any:
        """A signed PUT of raw bytes; answers JSON."""
        headers = {"Content-Type": "application/octet-stream"}
        return await self._when_room(lambda: self._send("PUT", path, data, dict(headers), query, auth=True))

    async def _when_room(self, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Send again (signed anew) after the server's Retry-After when it answered 503 for lack of room,
        a few times; then the 503 stands."""
        for n in range(BUSY_RETRIES + 1):
            try:
                return await attempt()
            except ServerBusyError as exc:
                if n == BUSY_RETRIES:
                    raise
                await asyncio.sleep(min(max(exc.retry_after, 0.1), BUSY_WAIT_MAX))
        raise AssertionError("unreachable")

    async def put_pieces(
        self, path: str, pieces: list[bytes], body_digest: bytes, *, query: Mapping[str, Any] | None = None
    ) -> Any:
        """A signed PUT whose body is `pieces` sent one after the other (attachment chunks), never joined
        into one copy; `body_digest` is `digest_pieces(pieces)`, computed by the caller (off the loop)."""

        async def body() -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(sum(len(p) for p in pieces))}
        return await self._when_room(
            lambda: self._send("PUT", path, body(), dict(headers), query, auth=True, body_digest=body_digest)
        )

    async def stream(self, path: str, *, query: Mapping[str, Any] | None = None, block: int = 1 << 20) -> AsyncIterator[bytes]:
        """A signed GET whose answer is read as a stream of blocks (attachment downloads).

        Raises ApiError for an error answer and ServerUnreachableError when the connection fails or the
        answer is cut short."""
        url, headers = self._prepare("GET", path, b"", {}, query, auth=True)
        try:
            # no total time limit: a large download takes as long as it takes, but a stalled one fails
            timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)
            async with self.session.get(url, headers=headers, timeout=timeout) as response:
                if response.status >= 400:
                    self._raise_for(response.status, await response.read())
                async for data in response.content.iter_chunked(block):
                    yield data
        except _CONNECTION_ERRORS as exc:
            raise ServerUnreachableError(f"cannot reach {self.base}: {exc.__class__.__name__}") from exc

    def _prepare(
        self,
        method: str,
        path: str,
        data: bytes,
        headers: dict[str, str],
        query: Mapping[str, Any] | None,
        *,
        auth: bool,
        body_digest: bytes | None = None,
    ) -> tuple[URL, dict[str, str]]:
        query_string = urlencode({k: v for k, v in (query or {}).items() if v is not None})
        if self.token is not None:
            headers[TOKEN_HEADER] = token_header(self.token)
        if auth and self.principal is None and self.token is not None:
            pass  # a read admitted by the token alone (GET /v1/directory)
        elif auth:
            if self.keys is None or self.principal is None:
                raise ValueError("this request needs an account")
            signed = sign_request(
                self.keys,
                principal=self.principal,
                method=method,
                path=path,
                query=query_string,
                body=data,
                timestamp=int(self.clock()),
                body_digest=body_digest,
            )
            headers.update(signed.as_dict())
        url = URL(self.base + path + (f"?{query_string}" if query_string else ""), encoded=True)
        return url, headers

    async def _send(
        self,
        method: str,
        path: str,
        data: bytes | AsyncIterator[bytes],
        headers: dict[str, str],
        query: Mapping[str, Any] | None,
        *,
        auth: bool,
        body_digest: bytes | None = None,
    ) -> Any:
        if not isinstance(data, bytes) and body_digest is None:
            raise ValueError("a streamed body needs its digest to be signed")
        signed_body = data if isinstance(data, bytes) else b""
        url, headers = self._prepare(method, path, signed_body, headers, query, auth=auth, body_digest=body_digest)
        body: bytes | io.BytesIO | AsyncIterator[bytes] | None = data
        if isinstance(data, bytes):
            # a large body goes as a file object, which aiohttp writes in pieces without blocking the loop
            body = (io.BytesIO(data) if len(data) > 1 << 20 else data) or None
        try:
            async with self.session.request(method, url, data=body, headers=headers) as response:
                payload = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except _CONNECTION_ERRORS as exc:
            raise ServerUnreachableError(f"cannot reach {self.base}: {exc.__class__.__name__}") from exc
        if status == 503 and retry_after is not None and retry_after.isdigit():
            raise ServerBusyError(float(retry_after), "the server is busy")
        if status >= 400:
            self._raise_for(status, payload)
        try:
            answer = json.loads(payload) if payload else {}
        except ValueError:
            raise ApiError(status, "bad_response", payload[:200].decode("utf-8", "replace")) from None
        check(method, path, status, answer)
        return answer

    # -- one method per route (contract/routes.py); each returns the answer as checked against its type --------

    async def health(self) -> JSON:
        """GET /v1/health (Health), unauthenticated."""
        answer: JSON = await self.call("GET", "/v1/health", auth=False)
        return answer

    async def openapi_document(self) -> JSON:
        """GET /v1/openapi.json (OpenApiDocument), unauthenticated."""
        answer: JSON = await self.call("GET", "/v1/openapi.json", auth=False)
        return answer

    async def invite_grant(self, invite_id: bytes, secret: str) -> JSON:
        """POST /v1/invites/grant (InviteGrantAnswer): the grant an invite's secret opens, unauthenticated."""
        body = {"v": 1, "invite_id": b64u_encode(invite_id), "secret": secret}
        answer: JSON = await self.call("POST", "/v1/invites/grant", body=body, auth=False)
        return answer

    async def join(self, body: JSON) -> JSON:
        """POST /v1/join (DirectorySeq): a joining device's signed directory entry, unauthenticated."""
        answer: JSON = await self.call("POST", "/v1/join", body=body, auth=False)
        return answer

    async def directory(self, *, after: int | None = None) -> JSON:
        """GET /v1/directory (DirectoryAnswer): the entries after seq `after` (all of them without), with the
        server's signed checkpoint and the witnesses' cosignatures."""
        answer: JSON = await self.call("GET", "/v1/directory", query={"after": after})
        return answer

    async def cosign(self, cosignature: Cosignature) -> JSON:
        """POST /v1/directory/cosignatures (Ok): a witness's cosignature of the head it verified."""
        answer: JSON = await self.call("POST", "/v1/directory/cosignatures", body=to_wire(cosignature))
        return answer

    async def issue_tokens(self, request: IssueRequest) -> JSON:
        """POST /v1/tokens (TokensAnswer): blinded submission tokens evaluated within the helper's budget."""
        answer: JSON = await self.call("POST", "/v1/tokens", body=to_wire(request))
        return answer

    async def accounts(self) -> JSON:
        """GET /v1/accounts (Accounts)."""
        answer: JSON = await self.call("GET", "/v1/accounts")
        return answer

    async def create_invite(self, grant: Grant) -> JSON:
        """POST /v1/invites (CreatedInvite): register an administrator's signed grant."""
        answer: JSON = await self.call("POST", "/v1/invites", body=to_wire(grant))
        return answer

    async def pending_invites(self) -> JSON:
        """GET /v1/invites (PendingInvites)."""
        answer: JSON = await self.call("GET", "/v1/invites")
        return answer

    async def resign_invite(self, grant: Grant) -> JSON:
        """PUT /v1/invites/{invite_id}/grant (InviteId): a pending invite's grant signed again (a new admin key)."""
        answer: JSON = await self.call("PUT", f"/v1/invites/{b64u_encode(grant.invite_id)}/grant", body=to_wire(grant))
        return answer

    async def revoke(self, account: str, body: JSON) -> JSON:
        """POST /v1/accounts/{account}/revoke (DirectorySeq): the signed revocation entry."""
        answer: JSON = await self.call("POST", f"/v1/accounts/{_name(account)}/revoke", body=body)
        return answer

    async def rotate(self, account: str, body: JSON) -> JSON:
        """POST /v1/accounts/{account}/rotate (DirectorySeq): the account's new keys, signed by old and new."""
        answer: JSON = await self.call("POST", f"/v1/accounts/{_name(account)}/rotate", body=body)
        return answer

    async def open_ceremony(self, *, threshold: int, members: list[str]) -> JSON:
        """POST /v1/ceremonies (OpenedCeremony): the council's key ceremony (the first, or a re-key)."""
        body = {"v": 1, "threshold": threshold, "members": members}
        answer: JSON = await self.call("POST", "/v1/ceremonies", body=body)
        return answer

    async def open_redistribution(self, *, threshold: int, members: list[str], dealers: list[str]) -> JSON:
        """POST /v1/ceremonies/redistribute (OpenedCeremony): a membership change, the same council key."""
        body = {"v": 1, "threshold": threshold, "members": members, "dealers": dealers}
        answer: JSON = await self.call("POST", "/v1/ceremonies/redistribute", body=body)
        return answer

    async def ceremony_status(self) -> JSON:
        """GET /v1/ceremonies/current (CeremonyStatus)."""
        answer: JSON = await self.call("GET", "/v1/ceremonies/current")
        return answer

    async def post_ceremony_message(self, ceremony_id: str, kind: str, body: str) -> JSON:
        """POST /v1/ceremonies/{ceremony_id}/messages (CeremonyProgress): one signed step, `body` its canonical
        JSON text (the relay stores exactly what was signed)."""
        path = f"/v1/ceremonies/{_name(ceremony_id)}/messages"
        answer: JSON = await self.call("POST", path, body={"v": 1, "kind": kind, "body": body})
        return answer

    async def ceremony_messages(self, ceremony_id: str, *, after: int = 0) -> JSON:
        """GET /v1/ceremonies/{ceremony_id}/messages (CeremonyMessages): the ceremony's mailbox after `after`."""
        path = f"/v1/ceremonies/{_name(ceremony_id)}/messages"
        answer: JSON = await self.call("GET", path, query={"after": after})
        return answer

    async def rekey_status(self) -> JSON:
        """GET /v1/rekey (RekeyStatus)."""
        answer: JSON = await self.call("GET", "/v1/rekey")
        return answer

    async def rekey_headers(self, *, after: str | None, limit: int) -> JSON:
        """GET /v1/rekey/headers (HeadersToSwitch): identity headers still to switch, after case id `after`."""
        answer: JSON = await self.call("GET", "/v1/rekey/headers", query={"after": after, "limit": limit})
        return answer

    async def contribute(self, contributions: list[Any]) -> JSON:
        """POST /v1/rekey/contributions (Contributed): this member's key-switch contributions (wire form)."""
        body = {"v": 1, "contributions": contributions}
        answer: JSON = await self.call("POST", "/v1/rekey/contributions", body=body)
        return answer

    async def switched(self, *, after: str | None = None, limit: int) -> JSON:
        """GET /v1/rekey/switched (SwitchedPage): switched headers after case id `after`."""
        answer: JSON = await self.call("GET", "/v1/rekey/switched", query={"after": after, "limit": limit})
        return answer

    async def attest(self, body: JSON) -> JSON:
        """POST /v1/rekey/attestation (Attested): the member's signed root over the switched headers."""
        answer: JSON = await self.call("POST", "/v1/rekey/attestation", body=body)
        return answer

    async def wraps(self, *, after: str | None = None, limit: int) -> JSON:
        """GET /v1/wraps (Wraps): this member's case-key wraps after case id `after`."""
        answer: JSON = await self.call("GET", "/v1/wraps", query={"after": after, "limit": limit})
        return answer

    async def add_wraps(self, wraps: list[JSON]) -> JSON:
        """POST /v1/wraps (Added): case keys wrapped to members who lack them."""
        answer: JSON = await self.call("POST", "/v1/wraps", body={"v": 1, "wraps": wraps})
        return answer

    async def put_case(self, case_id: bytes, sealed: bytes) -> JSON:
        """PUT /v1/cases/{case_id} (IntakeAnswer): an intake's JSON bytes as they were sealed, sent as they are
        (the receipt digests the bytes this device kept)."""
        answer: JSON = await self.call_json("PUT", f"/v1/cases/{b64u_encode(case_id)}", sealed)
        return answer

    async def cases(self, *, cursor: str | None = None, limit: int) -> JSON:
        """GET /v1/cases (CaseList): one page of the case list."""
        answer: JSON = await self.call("GET", "/v1/cases", query={"cursor": cursor, "limit": limit})
        return answer

    async def case_page(self, *, state: str | None, cursor: str | None = None, limit: int) -> JSON:
        """GET /v1/case-pages (CasePage): one page of whole cases in `state` (all states without)."""
        query = {"state": state, "cursor": cursor, "limit": limit}
        answer: JSON = await self.call("GET", "/v1/case-pages", query=query)
        return answer

    async def case(self, case_id: bytes) -> JSON:
        """GET /v1/cases/{case_id} (Case)."""
        answer: JSON = await self.call("GET", f"/v1/cases/{b64u_encode(case_id)}")
        return answer

    async def file_reveal(self, request: RevealRequest) -> JSON:
        """POST /v1/reveals (RequestId): a signed reveal request."""
        answer: JSON = await self.call("POST", "/v1/reveals", body=to_wire(request))
        return answer

    async def pending_reveals(self) -> JSON:
        """GET /v1/reveals (PendingReveals)."""
        answer: JSON = await self.call("GET", "/v1/reveals")
        return answer

    async def reveal(self, request_id: bytes) -> JSON:
        """GET /v1/reveals/{request_id} (Reveal): the request with its partials, as stored."""
        answer: JSON = await self.call("GET", f"/v1/reveals/{b64u_encode(request_id)}")
        return answer

    async def post_partial(self, partial: PartialDecryption) -> JSON:
        """POST /v1/reveals/{request_id}/partials (Approvals): a member's partial decryption."""
        path = f"/v1/reveals/{b64u_encode(partial.request_id)}/partials"
        answer: JSON = await self.call("POST", path, body=to_wire(partial))
        return answer

    async def propose(self, proposal: Proposal) -> JSON:
        """POST /v1/cases/{case_id}/proposals (ProposalId): a signed proposal for its case."""
        path = f"/v1/cases/{b64u_encode(proposal.case_id)}/proposals"
        answer: JSON = await self.call("POST", path, body=to_wire(proposal))
        return answer

    async def open_proposals(self) -> JSON:
        """GET /v1/proposals (OpenProposals)."""
        answer: JSON = await self.call("GET", "/v1/proposals")
        return answer

    async def proposal(self, proposal_id: bytes) -> JSON:
        """GET /v1/proposals/{proposal_id} (OpenProposal): the proposal with its votes."""
        answer: JSON = await self.call("GET", f"/v1/proposals/{b64u_encode(proposal_id)}")
        return answer

    async def vote(self, ballot: Vote) -> JSON:
        """POST /v1/proposals/{proposal_id}/votes (VoteResult): a signed vote on the proposal it names."""
        path = f"/v1/proposals/{b64u_encode(ballot.proposal_id)}/votes"
        answer: JSON = await self.call("POST", path, body=to_wire(ballot))
        return answer

    async def post_message(self, case_id: bytes, message: SealedMessage) -> JSON:
        """POST /v1/cases/{case_id}/messages (Seq)."""
        path = f"/v1/cases/{b64u_encode(case_id)}/messages"
        answer: JSON = await self.call("POST", path, body=to_wire(message))
        return answer

    async def messages(self, case_id: bytes, *, after: int | None = None) -> JSON:
        """GET /v1/cases/{case_id}/messages (Messages): the case's thread after seq `after` (all without)."""
        path = f"/v1/cases/{b64u_encode(case_id)}/messages"
        answer: JSON = await self.call("GET", path, query={"after": after})
        return answer

    async def new_attachment(self, case_id: bytes, body: JSON) -> JSON:
        """POST /v1/cases/{case_id}/attachments (AttachmentState): announce an attachment (or find it again)."""
        answer: JSON = await self.call("POST", _attachments(case_id), body=body)
        return answer

    async def attachments(self, case_id: bytes) -> JSON:
        """GET /v1/cases/{case_id}/attachments (Attachments): the case's attachments and the helper's list."""
        answer: JSON = await self.call("GET", _attachments(case_id))
        return answer

    async def put_attachment_list(self, case_id: bytes, listing: AttachmentList) -> JSON:
        """PUT /v1/cases/{case_id}/attachment-list (ListSerial): the helper's signed list of the attachments."""
        path = f"/v1/cases/{b64u_encode(case_id)}/attachment-list"
        answer: JSON = await self.call("PUT", path, body=to_wire(listing))
        return answer

    async def attachment(self, case_id: bytes, attachment_id: bytes) -> JSON:
        """GET /v1/cases/{case_id}/attachments/{attachment_id} (AttachmentState)."""
        answer: JSON = await self.call("GET", _attachments(case_id, attachment_id))
        return answer

    async def put_chunks(self, case_id: bytes, attachment_id: bytes, pieces: list[bytes], digest: bytes, *, first: int) -> JSON:
        """PUT /v1/cases/{case_id}/attachments/{attachment_id}/chunks (AttachmentState): one part of sealed chunks
        from chunk `first`, sent piece by piece; `digest` is keys.hashing's digest of the pieces."""
        path = f"{_attachments(case_id, attachment_id)}/chunks"
        answer: JSON = await self.put_pieces(path, pieces, digest, query={"from": first})
        return answer

    def chunks(self, case_id: bytes, attachment_id: bytes, *, first: int) -> AsyncIterator[bytes]:
        """GET /v1/cases/{case_id}/attachments/{attachment_id}/chunks (bytes): the sealed chunks from chunk
        `first`, as a stream of blocks."""
        return self.stream(f"{_attachments(case_id, attachment_id)}/chunks", query={"from": first})

    async def audit(self, *, after: int, limit: int) -> JSON:
        """GET /v1/audit (AuditPage): audit entries after seq `after`, with a signed checkpoint."""
        answer: JSON = await self.call("GET", "/v1/audit", query={"after": after, "limit": limit})
        return answer

    async def policy(self) -> JSON:
        """GET /v1/policy (Policy): the server's retention policy and limits."""
        answer: JSON = await self.call("GET", "/v1/policy")
        return answer

    @staticmethod
    def _raise_for(status: int, payload: bytes) -> None:
        try:
            decoded = json.loads(payload) if payload else {}
            if not isinstance(decoded, dict):
                raise ValueError
        except ValueError:
            decoded = {"error": "bad_response", "message": payload[:200].decode("utf-8", "replace")}
        raise ApiError(status, str(decoded.get("error", "error")), str(decoded.get("message", "")))


def _name(text: str) -> str:
    """A name (an account, a ceremony id the server gave) as one path segment: nothing in it can reach another
    route (`/` is quoted; an empty name, `.` and `..` are refused, since a URL resolves them as path steps)."""
    if text in ("", ".", ".."):
        raise EncodingError(f"{text!r} is not a name this API takes")
    return quote(text, safe="")


def _attachments(case_id: bytes, attachment_id: bytes | None = None) -> str:
    base = f"/v1/cases/{b64u_encode(case_id)}/attachments"
    return base if attachment_id is None else f"{base}/{b64u_encode(attachment_id)}"


def check(method: str, path: str, status: int, answer: Any) -> None:
    """Raise MalformedAnswerError unless `answer` (a success) is what its route answers (contract/routes.py)."""
    template = route_of(method, path)
    if template is None:  # a programming error: every path this client calls is in the contract
        raise LookupError(f"{method} {path} is not a route of the API")
    expected = ANSWERS[(method, template)]
    where = f"the server's answer to {method} {template}"
    if status not in expected.status:
        raise MalformedAnswerError(f"{where} has status {status}, which that route never answers")
    if expected.type is bytes:
        raise LookupError(f"{method} {template} answers bytes: read it with Api.stream")
    try:
        check_answer(expected.type, answer, "answer")
    except EncodingError as exc:
        raise MalformedAnswerError(f"{where} is malformed ({exc})") from None
