"""The pages every role has: opening the app, the passphrase, locking, the language, the start page."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from client.app.errors import KNOWN
from client.app.i18n import LANGUAGES
from client.app.pages import LANG_COOKIE, fields, go, notice, render, speaker, text, work
from client.app.security import COOKIE
from client.app.state import CONFIG, GATE, HTTP, ISOLATION, VAULT, make_session
from client.home import Home, HomeError
from client.report.strings import N_
from client.rotation import rotate_keys
from client.session import UsageError
from client.tokens import top_up_quietly
from keys.accounts import fingerprint
from keys.errors import KeystoreError, WrongPassphraseError

routes = web.RouteTableDef()
LOCKED = N_("Locked. Your keys are no longer in this app's memory.")


@routes.get("/open")
async def open_app(request: web.Request) -> web.StreamResponse:
    """Exchange the one-time token of the opening link for the session cookie (security.py)."""
    gate = request.app[GATE]
    if not gate.redeem(request.query.get("token", "")):
        return web.Response(
            status=403,
            text="This opening link was used already or is older than ten minutes. Stop the app and run `tessera app` "
            "again for a new one.\n",
        )
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, gate.session, httponly=True, samesite="Strict", path="/")
    raise response


@routes.get("/")
async def start(request: web.Request) -> web.StreamResponse:
    home = request.app[VAULT].current()
    if home is None:
        go("/unlock")
    return render(request, "start.html", server=home.server)


@routes.get("/unlock")
async def unlock_page(request: web.Request) -> web.StreamResponse:
    return render(request, "unlock.html", home_path=str(request.app[CONFIG].home), error=None)


@routes.post("/unlock")
async def unlock(request: web.Request) -> web.StreamResponse:
    data = await fields(request)
    passphrase = text(data, "passphrase")
    _ = speaker(request)
    path = request.app[CONFIG].home
    try:
        # Argon2id takes a while on purpose: off the event loop
        home = await asyncio.to_thread(Home.open, path, passphrase)
    except WrongPassphraseError:
        error = _("Wrong passphrase. Try again (check the keyboard layout and Caps Lock).")
        return render(request, "unlock.html", status=403, home_path=str(path), error=error)
    except (HomeError, KeystoreError) as exc:
        return render(request, "unlock.html", status=400, home_path=str(path), error=str(exc))
    request.app[VAULT].unlock(home)
    if home.role == "helper":
        await _fetch_tokens(request)
    go("/")


async def _fetch_tokens(request: web.Request) -> None:
    """A helper's submission tokens, fetched signed in when the app is unlocked (as `tessera sync` does), so that
    sending an intake or reading the inbox later needs no signed-in request (protocol doc §10.6). Offline, or
    refused, the app opens all the same: what it cannot do now, sending says later."""
    w = work(request, "helper")
    with contextlib.suppress(*KNOWN):
        await top_up_quietly(w.api, w.home, await w.directory(), now=int(time.time()))


@routes.post("/lock")
async def lock(request: web.Request) -> web.StreamResponse:
    request.app[VAULT].lock()
    return render(request, "unlock.html", home_path=str(request.app[CONFIG].home), error=None, locked=speaker(request)(LOCKED))


@routes.post("/language")
async def choose_language(request: web.Request) -> web.StreamResponse:
    data = await fields(request)
    chosen = text(data, "language")
    back = text(data, "back", "/")
    response = web.HTTPSeeOther(back if back.startswith("/") and not back.startswith("//") else "/")
    if chosen in LANGUAGES:
        response.set_cookie(LANG_COOKIE, chosen, httponly=True, samesite="Strict", path="/", max_age=365 * 86400)
    raise response


@routes.get("/people/safety")
async def safety_numbers(request: web.Request) -> web.StreamResponse:
    """This person's safety number and everyone else's, from the verified key directory, and whether this device
    has compared them in person (`tessera whoami` / `tessera verify NAME`)."""
    w = work(request)
    state = await w.directory()
    known = w.home.section("known")
    people = []
    for name, account in sorted(state.accounts.items()):
        if name == w.home.account or account.revoked:
            continue
        people.append(
            {
                "name": name,
                "role": account.role,
                "number": fingerprint(account.keys, name),
                "verified": bool(known.get(name, {}).get("verified")),
            }
        )
    mine = fingerprint(w.home.keys.public(), w.home.account)
    return render(request, "safety.html", mine=mine, people=people)


@routes.post("/people/safety/{name}")
async def accept_safety_number(request: web.Request) -> web.StreamResponse:
    """Record that the person compared `name`'s safety number in person: what `tessera verify NAME --accept` does
    (client/session.py `Session.directory(accept=...)`), only with the confirming tick."""
    w = work(request)
    data = await fields(request)
    name = request.match_info["name"]
    _ = speaker(request)
    if text(data, "compared") != "on":
        notice(request, _("Tick the box only after you compared the numbers in person."), "bad")
        go("/people/safety")
    state = await w.session.directory(w.home, w.api, accept=name)
    if state.active(name) is None:
        raise UsageError(f"no active account named {name!r}")
    notice(request, _("{name} is now marked as verified in person on this device.", name=name))
    go("/people/safety")


@routes.get("/account/keys")
async def keys_page(request: web.Request) -> web.StreamResponse:
    """This device's keys: its safety number, and replacing them (`tessera rotate-keys`) after a confirmation."""
    w = work(request)
    return render(request, "account_keys.html", **_keys_values(w.home), rotated=None, retried=False)


def _keys_values(home: Home) -> dict[str, Any]:
    return {
        "mine": fingerprint(home.keys.public(), home.account),
        "interrupted": home.state.get("pending_keys") is not None,
    }


@routes.post("/account/keys/rotate")
async def rotate(request: web.Request) -> web.StreamResponse:
    """Replace this device's keys through the CLI's own code (client/rotation.py): the new keys are kept before
    the server learns them and take over only once the verified key directory names them. Needs the box ticked;
    the answer is the result page (the new safety number)."""
    w = work(request)
    data = await fields(request)
    _ = speaker(request)
    if text(data, "sure") != "on":
        notice(request, _("Nothing was changed: tick the box to confirm that you want new keys."), "bad")
        go("/account/keys")
    retried: list[bool] = []
    session = make_session(request.app[CONFIG], request.app[HTTP], request.app.get(ISOLATION), command="rotate-keys")
    done = await rotate_keys(session, w.home, on_retry=lambda: retried.append(True))
    return render(request, "account_keys.html", **_keys_values(w.home), rotated=done, retried=bool(retried))
