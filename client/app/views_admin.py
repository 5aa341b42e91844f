"""An administrator's pages: people (invites with the line to copy and a QR code, revocation), the council key
(starting the key ceremony or a re-key, watching its progress), and the server (health, the audit log checked
on this device, the retention policy and quorum rules as the server states them).

Invites are signed grants (client/enrol.py `make_invite`) and revocations are signed directory entries
(`revoke_account`), as in the CLI; the people listed are those of the verified key directory."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup

from client.api import ApiError, ServerUnreachableError
from client.app.pages import fields, go, notice, render, speaker, text, work
from client.auditlog import verify_audit
from client.ceremony import open_ceremony
from client.enrol import make_invite, revoke_account
from client.session import UsageError
from keys.encoding import b64u_decode
from keys.invites import ROLES, check_account_name

routes = web.RouteTableDef()


def _people(state: Any) -> list[dict[str, Any]]:
    return [{"name": name, "role": account.role, "revoked": account.revoked} for name, account in sorted(state.accounts.items())]


@routes.get("/admin/people")
async def people(request: web.Request) -> web.StreamResponse:
    w = work(request, "admin")
    state = await w.directory()
    return render(request, "admin_people.html", people=_people(state), roles=ROLES, invite=None, qr=None)


@routes.post("/admin/invite")
async def invite(request: web.Request) -> web.StreamResponse:
    """The invite line and its QR code are rendered into this answer only (no-store): it is a secret that lets
    one person join, so it is shown once, to be handed over in person or over a channel the person trusts."""
    w = work(request, "admin")
    data = await fields(request)
    name, role = text(data, "name").strip(), text(data, "role")
    try:
        days = int(text(data, "days", "7") or "7")
    except ValueError as exc:
        raise UsageError("the days must be a whole number from 1 to 30") from exc
    if role not in ROLES:
        raise UsageError(f"the role is one of: {', '.join(ROLES)}")
    if not 1 <= days <= 30:
        raise UsageError("an invite is valid from 1 to 30 days")
    check_account_name(name)
    state = await w.directory()
    pin = w.home.state["pin"]
    made = await make_invite(
        w.api,
        admin_name=w.home.account,
        admin_keys=w.home.keys,
        account=name,
        role=role,
        today=int(time.time()) // 86400,
        head_seq=int(pin["seq"]),
        head_hash=b64u_decode(pin["head"], length=32),
        days=days,
    )
    line = made.encode()
    qr = Markup(segno.make(line, error="m").svg_inline(scale=4, border=4))  # noqa: S704 - made here from the invite's own characters
    return render(
        request,
        "admin_people.html",
        people=_people(state),
        roles=ROLES,
        invite={"line": line, "name": name, "role": role, "days": days},
        qr=qr,
    )


@routes.post("/admin/revoke")
async def revoke(request: web.Request) -> web.StreamResponse:
    w = work(request, "admin")
    data = await fields(request)
    name = text(data, "name")
    _ = speaker(request)
    if text(data, "sure") != "on":
        notice(request, _("Tick the box to confirm the revocation of {name}.", name=name), "bad")
        go("/admin/people")
    state = await w.directory()
    if state.active(name) is None:
        raise UsageError(f"no active account named {name!r}")
    seq = await revoke_account(w.api, w.home.keys, name, directory=w.directory)
    notice(request, _("Revoked {name} (key directory entry {seq}); it can no longer sign in.", name=name, seq=seq))
    go("/admin/people")


async def _status(read: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | None:
    try:
        answer = await read()
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return answer if isinstance(answer, dict) else None


@routes.get("/admin/ceremony")
async def ceremony(request: web.Request) -> web.StreamResponse:
    w = work(request, "admin")
    state = await w.directory()
    council_accounts = sorted(n for n, a in state.accounts.items() if a.role == "council" and not a.revoked)
    current = state.council
    return render(
        request,
        "admin_ceremony.html",
        ceremony=await _status(w.api.ceremony_status),
        rekey=await _status(w.api.rekey_status),
        council=current,
        candidates=council_accounts,
    )


@routes.post("/admin/ceremony/start")
async def ceremony_start(request: web.Request) -> web.StreamResponse:
    """Open the first key ceremony, or (when a council key exists) a re-key: a new council key that every case
    is switched to. The members then take part from their own devices (the council's ceremony page)."""
    w = work(request, "admin")
    data = await fields(request)
    members = [str(m) for m in data.getall("members", [])]
    try:
        threshold = int(text(data, "threshold"))
    except ValueError as exc:
        raise UsageError("the threshold must be a whole number") from exc
    if not 1 <= threshold <= len(members):
        raise UsageError("choose the members, and a threshold from 1 to their number")
    answer = await open_ceremony(w.api, threshold=threshold, members=members)
    _ = speaker(request)
    what = _("A re-key") if answer.get("kind") == "rekey" else _("The key ceremony")
    notice(request, _("{what} was opened for {members} (threshold {k}).", what=what, members=", ".join(members), k=threshold))
    go("/admin/ceremony")


@routes.get("/admin/server")
async def server(request: web.Request) -> web.StreamResponse:
    w = work(request, "admin")
    started = time.monotonic()
    try:
        health = await w.api.health()
        latency: int | None = round((time.monotonic() - started) * 1000)
    except ServerUnreachableError:
        health, latency = None, None
    state = await w.directory()
    entries = await verify_audit(w.api, state)
    policy = await _status(w.api.policy)
    return render(
        request,
        "admin_server.html",
        health=health,
        latency=latency,
        directory_seq=state.seq,
        audit_entries=entries,
        policy=policy,
        server=w.home.server,
    )
