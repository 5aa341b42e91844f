"""What each route answers: its type in contract/answers.py (`bytes`: an application/octet-stream body) and its
success statuses. The server's route table (server/http/routes.py) takes both from here, so the OpenAPI document,
the server's tests and every client's check of an answer read one table."""

from __future__ import annotations

from dataclasses import dataclass

from contract import answers as a


@dataclass(frozen=True, slots=True)
class Answer:
    type: type
    status: tuple[int, ...] = (200,)


ANSWERS: dict[tuple[str, str], Answer] = {
    ("GET", "/v1/health"): Answer(a.Health),
    ("GET", "/v1/openapi.json"): Answer(a.OpenApiDocument),
    ("POST", "/v1/invites/grant"): Answer(a.InviteGrantAnswer),
    ("POST", "/v1/join"): Answer(a.DirectorySeq, (201,)),
    ("GET", "/v1/directory"): Answer(a.DirectoryAnswer),
    ("POST", "/v1/directory/cosignatures"): Answer(a.Ok),
    ("POST", "/v1/tokens"): Answer(a.TokensAnswer),
    ("GET", "/v1/accounts"): Answer(a.Accounts),
    ("POST", "/v1/invites"): Answer(a.CreatedInvite, (201,)),
    ("GET", "/v1/invites"): Answer(a.PendingInvites),
    ("PUT", "/v1/invites/{invite_id}/grant"): Answer(a.InviteId),
    ("POST", "/v1/accounts/{account}/revoke"): Answer(a.DirectorySeq),
    ("POST", "/v1/accounts/{account}/rotate"): Answer(a.DirectorySeq),
    ("POST", "/v1/ceremonies"): Answer(a.OpenedCeremony, (201,)),
    ("POST", "/v1/ceremonies/redistribute"): Answer(a.OpenedCeremony, (201,)),
    ("GET", "/v1/rekey"): Answer(a.RekeyStatus),
    ("GET", "/v1/rekey/headers"): Answer(a.HeadersToSwitch),
    ("POST", "/v1/rekey/contributions"): Answer(a.Contributed, (201,)),
    ("GET", "/v1/rekey/switched"): Answer(a.SwitchedPage),
    ("POST", "/v1/rekey/attestation"): Answer(a.Attested, (201,)),
    ("GET", "/v1/wraps"): Answer(a.Wraps),
    ("POST", "/v1/wraps"): Answer(a.Added, (201,)),
    ("GET", "/v1/ceremonies/current"): Answer(a.CeremonyStatus),
    ("POST", "/v1/ceremonies/{ceremony_id}/messages"): Answer(a.CeremonyProgress),
    ("GET", "/v1/ceremonies/{ceremony_id}/messages"): Answer(a.CeremonyMessages),
    ("PUT", "/v1/cases/{case_id}"): Answer(a.IntakeAnswer),
    ("GET", "/v1/cases"): Answer(a.CaseList),
    ("GET", "/v1/case-pages"): Answer(a.CasePage),
    ("GET", "/v1/cases/{case_id}"): Answer(a.Case),
    ("POST", "/v1/reveals"): Answer(a.RequestId, (201,)),
    ("GET", "/v1/reveals"): Answer(a.PendingReveals),
    ("GET", "/v1/reveals/{request_id}"): Answer(a.Reveal),
    ("POST", "/v1/reveals/{request_id}/partials"): Answer(a.Approvals, (201,)),
    ("POST", "/v1/cases/{case_id}/proposals"): Answer(a.ProposalId, (201,)),
    ("GET", "/v1/proposals"): Answer(a.OpenProposals),
    ("GET", "/v1/proposals/{proposal_id}"): Answer(a.OpenProposal),
    ("POST", "/v1/proposals/{proposal_id}/votes"): Answer(a.VoteResult, (201,)),
    ("POST", "/v1/cases/{case_id}/messages"): Answer(a.Seq, (201,)),
    ("GET", "/v1/cases/{case_id}/messages"): Answer(a.Messages),
    ("POST", "/v1/cases/{case_id}/attachments"): Answer(a.AttachmentState, (200, 201)),
    ("GET", "/v1/cases/{case_id}/attachments"): Answer(a.Attachments),
    ("PUT", "/v1/cases/{case_id}/attachment-list"): Answer(a.ListSerial),
    ("GET", "/v1/cases/{case_id}/attachments/{attachment_id}"): Answer(a.AttachmentState),
    ("PUT", "/v1/cases/{case_id}/attachments/{attachment_id}/chunks"): Answer(a.AttachmentState),
    ("GET", "/v1/cases/{case_id}/attachments/{attachment_id}/chunks"): Answer(bytes),
    ("GET", "/v1/audit"): Answer(a.AuditPage),
    ("GET", "/v1/policy"): Answer(a.Policy),
}


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


_TEMPLATES = [(method, _segments(path), path) for method, path in ANSWERS]


def route_of(method: str, path: str) -> str | None:
    """The route template a concrete path belongs to (`/v1/cases/AbC` -> `/v1/cases/{case_id}`), or None. A literal
    segment wins over a placeholder (`/v1/ceremonies/current` is not `/v1/ceremonies/{ceremony_id}`)."""
    parts = _segments(path)
    best: tuple[int, str] | None = None
    for m, template, text in _TEMPLATES:
        if m != method or len(template) != len(parts):
            continue
        literal = 0
        for t, p in zip(template, parts, strict=True):
            if t.startswith("{") and t.endswith("}"):
                if not p:
                    break
            elif t != p:
                break
            else:
                literal += 1
        else:
            if best is None or literal > best[0]:
                best = (literal, text)
    return None if best is None else best[1]
