"""A council member's pages: the case list (search, filters and sort computed on this device), the triage
view of a case (its file, attachments, decisions, messages, tags and follow-up notes), proposing and voting
(the vote page shows what is signed), reveal requests (ask, approve after seeing who asks, why, and how many
approvals are still needed; open, shown on that page only), and taking part in a key ceremony.

Every action goes through the CLI's verified code: the checked opener, decisions read from signatures, the
verified council record; a confirmation page's fingerprint must still match when the member confirms, so a
server that changes a proposal or a request in between is refused."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from aiohttp import web

from client import decide, rekey, reveals
from client.annotations import AnnotationError, follow_up_text, parse_tags, read_annotations, tags_text
from client.api import ApiError
from client.app.pages import fields, go, notice, render, speaker, text, work
from client.app.security import SANDBOX_CSP
from client.app.state import VAULT, Work
from client.attachments import check_listing, describe_all, list_attachments, read_attachment
from client.casefiles import open_case
from client.caselist import SORTS, Filters, day_of, open_rows, select
from client.ceremony import ceremony_step
from client.forms import CHOICE_LABELS, KINDS, LABELS, URGENCY, label, schema
from client.inbox import send_message, thread_of
from client.plan import CeremonyPlan, NotConfirmedError
from client.rewrap import rewrap
from client.session import UsageError
from keys.attachments import Opener
from keys.decisions import ACTIONS
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import EncodingError, ProtocolError

routes = web.RouteTableDef()


def fingerprint(*parts: object) -> str:
    """What a confirmation page showed, condensed: the confirmation is refused if it changed since."""
    return b64u_encode(hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest())


def _filters(query: Any) -> Filters:
    sort = query.get("sort", "newest")
    return Filters(
        text=query.get("text", "")[:200],
        kind=query.get("kind", ""),
        region=query.get("region", "")[:60],
        urgency=query.get("urgency", ""),
        state=query.get("state", ""),
        tag=query.get("tag", "")[:40],
        first_day=day_of(query.get("from", "")),
        last_day=day_of(query.get("to", "")),
        sort=sort if sort in SORTS else "newest",
    )


@routes.get("/council/cases")
async def cases(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    state = await w.directory()
    rows = await open_rows(w.api, w.home, state)
    f = _filters(request.query)
    shown = select(rows, f)
    _ = speaker(request)
    return render(
        request,
        "council_cases.html",
        rows=shown,
        total=len(rows),
        f=f,
        q=request.query,
        kinds=[(k, _(KINDS[k][0])) for k in KINDS],
        urgencies=[(u, _(CHOICE_LABELS[u])) for u in URGENCY],
        regions=sorted({r.region for r in rows if r.region}),
        tags=sorted({t for r in rows for t in r.tags}),
        sorts=SORTS,
        label=lambda name: _(label(name)),
        choice=lambda value: _(CHOICE_LABELS.get(str(value), str(value))),
    )


async def _case_page(request: web.Request, w: Work, case_text: str) -> web.Response:
    state = await w.directory()
    case = await open_case(w.api, w.home, case_text, state)
    summary = case.summary()
    checked = check_listing(case.case_id, case.signed, case.envelope.reply_sign_key, await list_attachments(w.api, case.case_id))
    files = describe_all(
        checked.rows,
        case_id=case.case_id,
        openers=[Opener.for_case(case.case_id, case.case_key)],
        reply_sign_key=case.envelope.reply_sign_key,
    )
    notes = read_annotations(await thread_of(case, state))
    record = state.council
    order = [f.name for f in schema(str(summary["kind"]))] if summary["kind"] in KINDS else []
    case_file = summary["case_file"] if isinstance(summary["case_file"], dict) else {}
    summary["case_file"] = {n: case_file[n] for n in order if n in case_file} | {
        n: v for n, v in case_file.items() if n not in order
    }
    _ = speaker(request)
    return render(
        request,
        "council_case.html",
        case=summary,
        files=files,
        file_warnings=checked.warnings(),
        notes=notes,
        actions=ACTIONS,
        council_size=len(record.members) if record else 0,
        majority=(len(record.members) // 2 + 1) if record else 1,
        label=lambda name: _(label(name)),
        choice=lambda value: _(CHOICE_LABELS.get(str(value), str(value))),
    )


@routes.get("/council/cases/{case}")
async def case_page(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    return await _case_page(request, w, request.match_info["case"])


async def _opened(w: Work, case_text: str) -> tuple[Any, Any, Any]:
    state, record = await w.council_state()
    return state, record, await open_case(w.api, w.home, case_text, state)


INLINE = frozenset({"image/jpeg", "image/png"})  # shown in the page; anything else is offered as a download
FILE_IN_MEMORY = 50 * 1024 * 1024


@routes.get("/council/cases/{case}/files/{attachment}")
async def case_file(request: web.Request) -> web.StreamResponse:
    """One case-file attachment, opened and checked in memory (never written to disk by the app), whole or not
    at all. Photos (JPEG, PNG) are shown; any other type is sent as an opaque download, never as a page of this
    origin (an HTML or SVG file could otherwise run script here), and the answer is sandboxed and no-store."""
    w = work(request, "council")
    case = await open_case(w.api, w.home, request.match_info["case"], await w.directory())
    try:
        attachment_id = b64u_decode(request.match_info["attachment"], length=16, what="attachment id")
    except EncodingError as exc:
        raise UsageError("that is not an attachment id") from exc
    descriptor, data = await read_attachment(
        case.api,
        case_id=case.case_id,
        attachment_id=attachment_id,
        openers=[Opener.for_case(case.case_id, case.case_key)],
        reply_sign_key=case.signed.reply_sign_key,
        max_size=FILE_IN_MEMORY,
    )
    return _file_answer(descriptor.name, descriptor.media_type, data)


@routes.post("/council/cases/{case}/message")
async def case_message(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    data = await fields(request)
    body = text(data, "text").strip()
    case_text = request.match_info["case"]
    _ = speaker(request)
    if not body:
        notice(request, _("Write a message first."), "bad")
        go(f"/council/cases/{case_text}")
    _state, record, case = await _opened(w, case_text)
    await send_message(w.home, record, case, body, council_only=data.get("council_only") == "on")
    notice(request, _("Message sealed and sent."))
    go(f"/council/cases/{case.text_id}")


@routes.post("/council/cases/{case}/tags")
async def case_tags(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    data = await fields(request)
    _ = speaker(request)
    try:
        tags = parse_tags(text(data, "tags"))
    except AnnotationError as exc:
        raise UsageError(str(exc)) from exc
    _state, record, case = await _opened(w, request.match_info["case"])
    await send_message(w.home, record, case, tags_text(tags), council_only=True)
    notice(request, _("Tags saved, sealed to the council."))
    go(f"/council/cases/{case.text_id}")


@routes.post("/council/cases/{case}/follow-up")
async def case_follow_up(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    data = await fields(request)
    _ = speaker(request)
    try:
        body = follow_up_text(text(data, "note"), text(data, "due") or None)
    except AnnotationError as exc:
        raise UsageError(str(exc)) from exc
    _state, record, case = await _opened(w, request.match_info["case"])
    await send_message(w.home, record, case, body, council_only=True)
    notice(request, _("Follow-up note saved, sealed to the council."))
    go(f"/council/cases/{case.text_id}")


@routes.post("/council/cases/{case}/propose")
async def case_propose(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    data = await fields(request)
    needed_text = text(data, "needed").strip()
    try:
        needed = int(needed_text) if needed_text else None
    except ValueError as exc:
        raise UsageError("the yes votes needed must be a whole number") from exc
    state, record, case = await _opened(w, request.match_info["case"])
    proposal = await decide.make_proposal(w.api, w.home, state, record, case, text(data, "action"), text(data, "note"), needed)
    _ = speaker(request)
    notice(request, _("Proposal {id} signed and sent. Now vote on it.", id=proposal))
    go(f"/council/proposals/{proposal}")


@routes.get("/council/proposals/{proposal}")
async def proposal_page(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    state = await w.directory()
    shown = await decide.show_proposal(w.api, w.home, state, request.match_info["proposal"])
    mine = w.home.account in {v["account"] for v in shown.decision["votes"]}
    return render(request, "council_vote.html", shown=shown, d=shown.decision, voted=mine, case_kind=shown.case.form.get("kind"))


@routes.post("/council/proposals/{proposal}/vote")
async def proposal_vote(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    data = await fields(request)
    state = await w.directory()
    shown = await decide.show_proposal(w.api, w.home, state, request.match_info["proposal"])
    _ = speaker(request)
    if text(data, "digest") != shown.digest:
        raise UsageError("the proposal is not the one you were shown: nothing was signed. Look at it again")
    counted = await decide.cast_vote(w.api, w.home, state, shown, approve=text(data, "choice") == "yes")
    notice(
        request,
        _(
            "Vote signed and sent: {yes} of {needed} yes votes verified; the decision is {state}.",
            yes=counted["yes_votes_verified"],
            needed=counted["needed"],
            state=_(str(counted["state"])),
        ),
    )
    go(f"/council/cases/{shown.case.text_id}")


@routes.post("/council/cases/{case}/reveal")
async def reveal_ask(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    data = await fields(request)
    try:
        hours = int(text(data, "hours", "72") or "72")
    except ValueError as exc:
        raise UsageError("the hours must be a whole number") from exc
    state, record = await w.council_state()
    rid = await reveals.ask(w.api, w.home, state, record, request.match_info["case"], text(data, "purpose"), hours)
    _ = speaker(request)
    notice(request, _("Reveal request {id} sent. It opens when enough members approve.", id=rid))
    go("/council/reveals")


@routes.get("/council/reveals")
async def reveal_list(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    state, record = await w.council_state()
    items = await reveals.pending(w.api, w.home, state, record)
    return render(request, "council_reveals.html", pending=items, mine=reveals.my_requests(w.home))


async def _pending_one(w: Work, request_id: str) -> reveals.Pending:
    state, record = await w.council_state()
    for item in await reveals.pending(w.api, w.home, state, record):
        if item.request_id == request_id:
            return item
    raise UsageError("no such pending request (it expired, was approved by you already, or the id is wrong)")


def _reveal_fingerprint(item: reveals.Pending) -> str:
    return fingerprint(item.request_id, item.case_id, item.requester, item.purpose, item.threshold)


@routes.get("/council/reveals/{request}/approve")
async def reveal_confirm(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    item = await _pending_one(w, request.match_info["request"])
    return render(request, "council_approve.html", item=item, confirm=_reveal_fingerprint(item))


@routes.post("/council/reveals/{request}/approve")
async def reveal_approve(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    data = await fields(request)
    item = await _pending_one(w, request.match_info["request"])
    if item.problem is not None or item.purpose is None:
        raise UsageError(f"do not approve this request: {item.problem}")
    if text(data, "confirm") != _reveal_fingerprint(item):
        raise UsageError("the request is not the one you were shown: nothing was approved. Look at it again")
    state, record = await w.council_state()
    approvals = await reveals.approve(w.api, w.home, state, record, item.request_id)
    left = max(record.threshold - approvals, 0)
    _ = speaker(request)
    notice(request, _("Approved: {n} of the {k} approvals needed so far (the server's count).", n=approvals, k=record.threshold))
    if not left:
        notice(request, _("The requester can open it now."))
    go("/council/reveals")


@routes.post("/council/reveals/{request}/open")
async def reveal_open(request: web.Request) -> web.StreamResponse:
    """The identity is rendered into this answer only: not stored, not redirected to, never cached (no-store);
    it is gone when the page is left. Its photos and papers, opened in memory, are each served once to this
    page under a random name (`/council/revealed/NAME`) and then dropped."""
    w = work(request, "council")
    state, record = await w.council_state()
    revealed = await reveals.open_request(w.api, w.home, state, record, request.match_info["request"], max_file=FILE_IN_MEMORY)
    vault = request.app[VAULT]
    shown = []
    for f in revealed.files:
        token = secrets.token_urlsafe(24)
        vault.once[token] = (f.name, f.media_type, f.data)
        shown.append({"url": f"/council/revealed/{token}", "name": f.name, "image": f.media_type in INLINE, "size": len(f.data)})
    _ = speaker(request)
    order = list(LABELS)  # the forms' own order: the name first
    identity = sorted(revealed.identity.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))
    return render(
        request,
        "council_identity.html",
        revealed=revealed,
        identity=identity,
        shown=shown,
        label=lambda name: _(label(name)),
    )


@routes.get("/council/revealed/{token}")
async def revealed_file(request: web.Request) -> web.StreamResponse:
    """A file opened after a reveal, served once (a reload finds it gone), sandboxed and no-store."""
    work(request, "council")
    item = request.app[VAULT].once.pop(request.match_info["token"], None)
    if item is None:
        raise web.HTTPGone(text="This file was shown once and is no longer in the app's memory.\n")
    name, media_type, data = item
    return _file_answer(name, media_type, data)


def _file_answer(name: str, media_type: str, data: bytes) -> web.Response:
    """Photos (JPEG, PNG) shown; anything else an opaque download, never a page of this origin; sandboxed."""
    inline = media_type in INLINE
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100] or "attachment"
    return web.Response(
        body=data,
        content_type=media_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{safe}"',
            "Content-Security-Policy": SANDBOX_CSP,
        },
    )


@routes.get("/council/ceremony")
async def ceremony_page(request: web.Request) -> web.StreamResponse:
    w = work(request, "council")
    status = await _ceremony_status(w)
    return render(request, "council_ceremony.html", ceremony=status, plan=None, confirm="", result=None, rekey=await _rekey(w))


async def _rekey(w: Work) -> dict[str, Any]:
    """The re-key's status (the server's word: what to do next, nothing decided on it), and whether this device
    still holds a share of the old key; erasing it is the member's own step (`rekey_forget`), checked first."""
    status = await rekey.fetch_status(w.api)
    return {**status, "old_share_kept": rekey.old_share_kept(w.home.section("ceremony"), status)}


@routes.post("/council/rekey/forget")
async def rekey_forget(request: web.Request) -> web.StreamResponse:
    """Erase this member's share of the old council key, after this device verified the re-key finished: the new
    council's attestation signed by k of its members over every case sealed before (client/rekey.py; never on
    the server's "done"). The button sits under the words saying the share can never be used again."""
    w = work(request, "council")
    state = await w.directory()
    status = await rekey.fetch_status(w.api)
    _ = speaker(request)
    try:
        erased = await rekey.forget_old_share(w.api, w.home.keys, w.home.section("ceremony"), state, status)
    except ProtocolError as exc:
        notice(request, _("Your share of the old key is kept: {why}", why=str(exc)))
        go("/council/ceremony")
    if erased is None:
        notice(request, _("This device holds no share of the old council key."))
    else:
        w.home.save()
        erased_text = _("Erased your share of the old council key (epoch {epoch}): it opens nothing any more.", epoch=erased[0])
        notice(request, erased_text)
    go("/council/ceremony")


@routes.post("/council/rekey/contribute")
async def rekey_contribute(request: web.Request) -> web.StreamResponse:
    """An old council member's key-switch part for every case not switched yet (client/rekey.py)."""
    w = work(request, "council")
    state = await w.directory()
    count = await rekey.contribute(w.api, w.home.keys, w.home.section("ceremony"), state, lambda done, total: None)
    _ = speaker(request)
    notice(request, _("Contributed to {n} case(s).", n=count))
    go("/council/ceremony")


@routes.post("/council/rekey/attest")
async def rekey_attest(request: web.Request) -> web.StreamResponse:
    """A new council member checks every switched case and signs them all (client/rekey.py)."""
    w = work(request, "council")
    state = await w.directory()
    answer = await rekey.attest(w.api, w.home.keys, state, lambda done, total: None)
    _ = speaker(request)
    notice(
        request, _("Checked and signed every switched case: {n} of {k} signatures.", n=answer["signatures"], k=answer["needed"])
    )
    go("/council/ceremony")


async def _ceremony_status(w: Work) -> dict[str, Any] | None:
    try:
        answer = await w.api.ceremony_status()
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return answer if isinstance(answer, dict) else None


def _plan_fingerprint(plan: CeremonyPlan) -> str:
    return fingerprint(*plan.describe())


@routes.post("/council/ceremony/step")
async def ceremony_take_part(request: web.Request) -> web.StreamResponse:
    """One step of the running ceremony. The first time the member is shown the plan (who the new council is,
    their safety numbers, whether compared in person, the threshold) and nothing is sent; a step with the
    fingerprint of exactly that plan accepts it (plan.py remembers the acceptance per ceremony)."""
    w = work(request, "council")
    data = await fields(request)
    accepted = text(data, "accept")
    shown: list[CeremonyPlan] = []

    def confirm(plan: CeremonyPlan) -> bool:
        shown.append(plan)
        return bool(accepted) and accepted == _plan_fingerprint(plan)

    try:
        result = await ceremony_step(
            w.api,
            w.home.keys,
            w.home.section("ceremony"),
            directory=w.directory,
            confirm=confirm,
            known=w.home.section("known"),
            save=w.home.save,
        )
    except NotConfirmedError:
        plan = shown[-1]
        return render(
            request,
            "council_ceremony.html",
            ceremony=await _ceremony_status(w),
            plan=plan,
            confirm=_plan_fingerprint(plan),
            result=None,
            rekey=await _rekey(w),
        )
    w.home.save()
    return render(
        request,
        "council_ceremony.html",
        ceremony=await _ceremony_status(w),
        plan=None,
        confirm="",
        result=result,
        rekey=await _rekey(w),
    )


@routes.post("/council/rewrap")
async def rewrap_case_keys(request: web.Request) -> web.StreamResponse:
    """`tessera council rewrap` (client/rewrap.py): the case keys this member holds, wrapped to the members of the
    verified council record who lack them (after a membership change or a member's key rotation); a key the
    server lists outside that record stops it before anything is wrapped."""
    w = work(request, "council")
    state, record = await w.council_state()
    done = await rewrap(w.api, w.home, state, record)
    _ = speaker(request)
    notice(
        request,
        _(
            "Looked at {cases} case(s); added {added} key wrap(s) for council members who lacked them. "
            "The server saw no case key.",
            cases=done.looked,
            added=done.added,
        ),
    )
    go("/council/ceremony")
