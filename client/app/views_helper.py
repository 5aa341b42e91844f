"""A field helper's pages: pick a kind of case and fill its form (rendered from client/forms.py, errors per
field in the person's language), attach photos and papers, the outbox and sending it, the inbox.

Everything goes through the CLI's verified code: the council key from the verified directory (or the copy
verified when last online), the outbox kept until the server's signed receipt verifies (`flush`), cases read
through the checked opener (`read_inbox`), attachments cleaned of metadata before they are sealed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from client.api import ServerUnreachableError
from client.app.pages import fields, go, notice, read_multipart, render, speaker, text, tidy_uploads, work
from client.app.state import CONFIG, Work
from client.attaching import prepare_all, signed_list_for
from client.attachments import PendingUpload, UploadInterruptedError, upload
from client.casefiles import open_case
from client.forms import ATTACHMENT_DEFAULT, CHOICE_LABELS, KINDS, FormError, Problem, form_from_strings, label, schema
from client.home import Home
from client.inbox import read_inbox, send_message
from client.sealing import cached_council, outbox_summary, seal_form
from client.session import UsageError
from client.strip import StripError, plan
from client.submit import Flushed, case_directory, flush, flush_case_uploads
from keys.attachments import new_attachment_id
from keys.council import EpochRecord
from keys.encoding import b64u_encode

routes = web.RouteTableDef()
LONG_TEXT = 2000  # a text field that may be longer than this gets a text area


def field_views(kind: str, values: dict[str, str], problems: list[Problem], _: Any) -> dict[str, list[dict[str, Any]]]:
    """Each field of the kind's schema as the form shows it, by section."""
    errors = {p.field: p.text(_) for p in problems}
    out: dict[str, list[dict[str, Any]]] = {"identity": [], "case": []}
    for f in schema(kind):
        widget = {"date": "date", "month": "month", "int": "number", "bool": "checkbox", "choice": "select"}.get(f.kind, "text")
        if widget == "text" and f.max_len > LONG_TEXT:
            widget = "textarea"
        out[f.section].append(
            {
                "name": f.name,
                "label": _(label(f.name)),
                "help": _(f.help),
                "widget": widget,
                "required": f.required,
                "choices": [(c, _(CHOICE_LABELS.get(c, c))) for c in f.choices],
                "max_len": f.max_len,
                "value": values.get(f.name, ""),
                "error": errors.get(f.name),
            }
        )
    return out


@routes.get("/helper/new")
async def choose_kind(request: web.Request) -> web.StreamResponse:
    work(request, "helper")
    _ = speaker(request)
    kinds = [(kind, _(description)) for kind, (description, _fields) in KINDS.items()]
    return render(request, "helper_kinds.html", kinds=kinds)


def _form_page(
    request: web.Request, kind: str, values: dict[str, str], problems: list[Problem], status: int = 200
) -> web.Response:
    _ = speaker(request)
    return render(
        request,
        "helper_form.html",
        status=status,
        kind=kind,
        kind_text=_(KINDS[kind][0]),
        sections=field_views(kind, values, problems, _),
        attach_default=ATTACHMENT_DEFAULT[kind],
        attachments_possible=request.app[CONFIG].uploads is not None,
        problems=[f"{_(label(p.field))}: {p.text(_)}" for p in problems],
    )


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise web.HTTPNotFound(text="no such kind of case")
    return kind


@routes.get("/helper/new/{kind}")
async def new_form(request: web.Request) -> web.StreamResponse:
    work(request, "helper")
    return _form_page(request, _kind(request), {}, [])


def _plans(paths: list[Any], keep_metadata: bool) -> list[Any]:
    try:
        return [plan(p, keep_metadata=keep_metadata) for p in paths]
    except StripError as exc:
        raise UsageError(str(exc)) from exc


async def _council(w: Work) -> tuple[EpochRecord, bool]:
    """The council record to seal to: verified now, or (server unreachable) the one verified last time."""
    try:
        return (await w.council_state())[1], True
    except ServerUnreachableError:
        return cached_council(w.home), False


async def send_outbox(request: web.Request, w: Work) -> Flushed:
    """Send every sealed intake (each on a connection of its own, paid with an anonymous submission token, kept
    until its signed receipt verifies: client/submit.py), then resume every upload, each case's on its own
    connection as the case's principal."""
    result = await flush(w.session, w.home)
    if not result.waiting:
        try:
            done, unfinished = await flush_case_uploads(w.session, w.home)
        except ServerUnreachableError:
            done, unfinished = 0, len(list(w.home.pending_uploads()))
        result.uploaded += done
        result.uploads_waiting = unfinished
    tidy_uploads(w.home, request.app[CONFIG].uploads)
    return result


def _say_sent(request: web.Request, result: Flushed) -> None:
    _ = speaker(request)
    if result.waiting or result.uploads_waiting:
        notice(request, _("The server does not answer; what is left waits sealed in the outbox. Send it again later."), "warn")
    if result.no_token:
        notice(
            request,
            _(
                "{n} intake(s) wait sealed in the outbox: this device has no submission token to send them without "
                "your name. Sync later to get new tokens (a few each week).",
                n=_.number(result.no_token),
            ),
            "warn",
        )
    notice(
        request,
        _("Sent {sent} intake(s) and {done} attachment(s).", sent=_.number(result.sent), done=_.number(result.uploaded)),
    )


@routes.post("/helper/new/{kind}")
async def submit(request: web.Request) -> web.StreamResponse:
    w = work(request, "helper")
    kind = _kind(request)
    uploads = request.app[CONFIG].uploads
    if request.content_type.startswith("multipart/"):
        values, files = await read_multipart(request, uploads)
    else:
        values, files = {k: str(v) for k, v in (await fields(request)).items()}, []
    try:
        form = form_from_strings(kind, values)
    except FormError as exc:
        tidy_uploads(w.home, uploads)
        return _form_page(request, kind, values, exc.fields, status=400)
    _ = speaker(request)
    try:
        plans = _plans(files, keep_metadata=values.get("keep_metadata") == "on")
        offline = values.get("offline") == "on"
        if offline:
            record, fresh = cached_council(w.home), False
        else:
            record, fresh = await _council(w)
        attach_as = values.get("attach_as") if values.get("attach_as") in ("identity", "case") else None
        case_id = seal_form(w.home, form, record, plans, attach_as=attach_as)
    finally:
        tidy_uploads(w.home, uploads)
    for p in plans:
        if p.removed:
            notice(request, _("{name}: removed {what}", name=p.name, what=", ".join(p.removed)))
        if p.warning:
            notice(request, f"{p.name}: {p.warning}", "warn")
    notice(request, _("Sealed on this device: case {case}.", case=b64u_encode(case_id)))
    if not fresh and not offline:
        notice(request, _("The server does not answer: sealed with the council key verified last time."), "warn")
    if offline or not fresh:
        go("/helper/outbox")
    _say_sent(request, await send_outbox(request, w))
    go("/helper/outbox")


@routes.get("/helper/outbox")
async def outbox(request: web.Request) -> web.StreamResponse:
    w = work(request, "helper")
    uploads = [_upload_row(record) for _id, record in w.home.pending_uploads()]
    return render(request, "helper_outbox.html", intakes=outbox_summary(w.home), uploads=uploads, sent=_sent(w.home))


def _upload_row(record: bytes) -> dict[str, Any]:
    pending = PendingUpload.from_json(record)
    layout = pending.descriptor.layout
    return {
        "name": pending.name,
        "case_id": b64u_encode(pending.case_id),
        "size": pending.descriptor.size,
        "done": len(pending.sent),
        "percent": min(100, round(100 * (max(pending.sent) + 1 if pending.sent else 0) / max(layout.count, 1))),
    }


def _sent(home: Home) -> list[dict[str, Any]]:
    receipts = home.section("receipts")
    return [{"case_id": c, "day": receipts.get(c, {}).get("day")} for c in home.state.get("cases", [])]


@routes.post("/helper/outbox/send")
async def outbox_send(request: web.Request) -> web.StreamResponse:
    w = work(request, "helper")
    _say_sent(request, await send_outbox(request, w))
    go("/helper/outbox")


@routes.get("/helper/inbox")
async def inbox(request: web.Request) -> web.StreamResponse:
    w = work(request, "helper")
    state = await case_directory(w.session, w.home)  # names nobody: a token read (client/submit.py)
    cases, missing = await read_inbox(w.api, w.home, state)
    return render(
        request,
        "helper_inbox.html",
        cases=cases,
        missing=missing,
        attachments_possible=request.app[CONFIG].uploads is not None,
        defaults=ATTACHMENT_DEFAULT,
    )


@routes.post("/helper/cases/{case}/message")
async def helper_message(request: web.Request) -> web.StreamResponse:
    w = work(request, "helper")
    body = text(await fields(request), "text").strip()
    _ = speaker(request)
    if not body:
        notice(request, _("Write a message first."), "bad")
        go("/helper/inbox")
    state, record = await w.council_state()
    case = await open_case(w.api, w.home, request.match_info["case"], state)
    await send_message(w.home, record, case, body)
    notice(request, _("Message sealed and sent."))
    go("/helper/inbox")


@routes.post("/helper/cases/{case}/attach")
async def attach(request: web.Request) -> web.StreamResponse:
    """Attach files to one of the helper's own cases, after it passed the checked opener with her reply keys."""
    w = work(request, "helper")
    uploads = request.app[CONFIG].uploads
    values, files = await read_multipart(request, uploads)
    _ = speaker(request)
    try:
        if not files:
            notice(request, _("Choose at least one file."), "bad")
            go("/helper/inbox")
        plans = _plans(files, keep_metadata=values.get("keep_metadata") == "on")
        state = await w.directory()
        case = await open_case(w.api, w.home, request.match_info["case"], state)
        kind = values.get("attach_as") if values.get("attach_as") in ("identity", "case") else None
        kind = kind or ATTACHMENT_DEFAULT.get(str(case.form.get("kind")), "identity")
        ids = [new_attachment_id() for _p in plans]
        listing = await signed_list_for(w.home, case, ids)
        pending = prepare_all(w.home, case.case_id, case.case_key, case.signed.attachment_key, plans, kind, ids, listing)
        done = 0
        for item in pending:
            try:
                await upload(w.api, w.home, item, server_key=state.server_key)
                done += 1
            except UploadInterruptedError:
                notice(request, _("The upload of {name} stopped; it resumes from the outbox.", name=item.name), "warn")
                break
    finally:
        tidy_uploads(w.home, uploads)
    notice(request, _("Attached {n} file(s).", n=_.number(done)))
    go("/helper/inbox")
