"""The local app's gate (client/app/security.py): each check refuses and changes nothing.

Every refused request here would otherwise unlock the keystore or lock it: the test asserts the vault did
not move. Each test fails against an app without the check it names (checked by removing the check)."""

from __future__ import annotations

import aiohttp
import pytest

from client.app.security import COOKIE, CSP, CSRF_FIELD, OPEN_WINDOW
from tests.support.app import PASSPHRASE, App


def unlock_form(app: App, **override: str) -> dict[str, str]:
    return {"passphrase": PASSPHRASE, CSRF_FIELD: app.gate.csrf, **override}


async def test_the_opening_link_works_once_and_sets_a_strict_httponly_cookie(app: App) -> None:
    wrong = await app.client.get("/open?token=not-the-token", allow_redirects=False)
    assert wrong.status == 403 and COOKIE not in wrong.cookies
    first = await app.client.get(f"/open?token={app.gate.open_token}", allow_redirects=False)
    assert first.status == 303 and first.headers["Location"] == "/"
    cookie = first.headers["Set-Cookie"]
    assert f"{COOKIE}={app.gate.session}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    again = await app.client.get(f"/open?token={app.gate.open_token}", allow_redirects=False)
    assert again.status == 403


async def test_an_opening_link_older_than_its_window_is_refused(app: App) -> None:
    app.clock.now += OPEN_WINDOW + 1
    response = await app.client.get(f"/open?token={app.gate.open_token}", allow_redirects=False)
    assert response.status == 403 and not app.gate.opened


async def test_without_the_cookie_nothing_is_served_or_changed(app: App) -> None:
    await app.opened()
    app.client.session.cookie_jar.clear()
    page = await app.client.get("/unlock")
    assert page.status == 403 and "has not opened the Tessera app" in await page.text()
    response = await app.client.post("/unlock", data=unlock_form(app), headers={"Origin": app.origin}, allow_redirects=False)
    assert response.status == 403
    assert app.vault.locked
    forged = await app.client.post(
        "/unlock", data=unlock_form(app), headers={"Origin": app.origin, "Cookie": f"{COOKIE}=guess"}, allow_redirects=False
    )
    assert forged.status == 403 and app.vault.locked


@pytest.mark.parametrize("host", ["evil.example", "localhost", "127.0.0.1", "127.0.0.1:1"])
async def test_a_rebinding_host_is_refused(app: App, host: str) -> None:
    await app.opened()
    page = await app.client.get("/unlock", headers={**app.cookie(), "Host": host})
    assert page.status == 403
    response = await app.client.post("/unlock", data=unlock_form(app), headers=app.good(Host=host), allow_redirects=False)
    assert response.status == 403 and app.vault.locked
    port_host = f"{host.split(':')[0]}:{app.gate.port}"
    if port_host != f"127.0.0.1:{app.gate.port}":
        rebinding = await app.client.post(
            "/unlock", data=unlock_form(app), headers=app.good(Host=port_host), allow_redirects=False
        )
        assert rebinding.status == 403 and app.vault.locked


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null", None])
async def test_a_foreign_or_missing_origin_changes_nothing(app: App, origin: str | None) -> None:
    await app.unlock()
    headers = app.cookie() | ({"Origin": origin} if origin else {})
    response = await app.client.post("/lock", data={CSRF_FIELD: app.gate.csrf}, headers=headers, allow_redirects=False)
    assert response.status == 403
    assert not app.vault.locked


async def test_a_state_change_without_the_csrf_token_is_refused(app: App) -> None:
    await app.opened()
    for form in ({"passphrase": PASSPHRASE}, unlock_form(app, **{CSRF_FIELD: "wrong"}), unlock_form(app, **{CSRF_FIELD: ""})):
        response = await app.client.post("/unlock", data=form, headers=app.good(), allow_redirects=False)
        assert response.status == 403
        assert app.vault.locked
    form = aiohttp.FormData()
    form.add_field("passphrase", PASSPHRASE)
    form.add_field(CSRF_FIELD, app.gate.csrf)
    form.add_field("f", b"x", filename="f.jpg")
    multipart = await app.client.post("/unlock", data=form, headers=app.good())
    assert multipart.status == 403 and app.vault.locked
    ok = await app.client.post("/unlock", data=unlock_form(app), headers=app.good(), allow_redirects=False)
    assert ok.status == 303 and not app.vault.locked


async def test_every_answer_carries_the_csp_and_no_store(app: App) -> None:
    await app.opened()
    answers = [
        await app.client.get("/unlock", headers=app.cookie()),
        await app.client.get("/static/app.css", headers=app.cookie()),
        await app.client.get("/static/app.js", headers=app.cookie()),
        await app.client.get("/no-such-page", headers=app.cookie()),
        await app.client.get("/unlock", headers={"Host": "evil.example"}),
        await app.client.post("/lock", headers=app.cookie()),
        await app.client.get("/open?token=x", allow_redirects=False),
    ]
    for response in answers:
        assert response.headers["Content-Security-Policy"] == CSP, response.url
        assert response.headers["Cache-Control"] == "no-store", response.url
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP and "default-src 'none'" in CSP


async def test_the_wrong_passphrase_leaves_it_locked(app: App) -> None:
    await app.opened()
    response = await app.client.post("/unlock", data=unlock_form(app, passphrase="not it"), headers=app.good())
    assert response.status == 403 and "Wrong passphrase" in await response.text()
    assert app.vault.locked


async def test_the_keystore_locks_itself_when_idle_and_on_request(app: App) -> None:
    await app.unlock()
    assert (await app.client.get("/", headers=app.cookie(), allow_redirects=False)).status == 200
    app.clock.now += 601
    idle = await app.client.get("/", headers=app.cookie(), allow_redirects=False)
    assert idle.status == 303 and idle.headers["Location"] == "/unlock"
    assert app.vault.locked
    await app.unlock(open_first=False)
    locked = await app.client.post("/lock", data={CSRF_FIELD: app.gate.csrf}, headers=app.good())
    assert locked.status == 200 and app.vault.locked


async def test_pages_carry_no_inline_script_and_escape_what_they_show(app: App) -> None:
    await app.opened()
    text = await (await app.client.get("/unlock", headers=app.cookie())).text()
    assert '<script src="/static/app.js"' in text
    assert "<script>" not in text and " on" + "click=" not in text
