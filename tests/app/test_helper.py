"""A helper's work in the app, in-process against a real server (through the hostile suite's relay, passing
everything unchanged here): the form with its per-field errors, sealing with a photo, the outbox, the inbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp

from client.app.security import CSRF_HEADER
from client.samples import photo_with_gps
from tests.support.app import App
from tests.support.harness import Org

FOOD = {
    "full_name": "김영희",
    "exact_location": "shelter D, second floor",
    "region": "Jilin",
    "urgency": "high",
    "narrative": "rice for six people",
    "people": "6",
    "amount_usd": "120",
}


async def cli(org: Org, who: str, *argv: str) -> str:
    """The real CLI (its own event loop) in a thread, while the app's test loop keeps running."""
    return await asyncio.to_thread(org.ok, who, *argv)


def multipart(values: dict[str, str], files: dict[str, bytes]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in values.items():
        form.add_field(name, value)
    for name, data in files.items():
        form.add_field("files", data, filename=name, content_type="application/octet-stream")
    return form


async def send_form(app: App, kind: str, values: dict[str, str], files: dict[str, bytes] | None = None) -> aiohttp.ClientResponse:
    return await app.client.post(
        f"/helper/new/{kind}",
        data=multipart(values, files or {}),
        headers=app.good(**{CSRF_HEADER: app.gate.csrf}),
        allow_redirects=False,
    )


async def test_a_bad_form_is_shown_again_with_an_error_at_each_field_and_nothing_sealed(
    org: Org, app_for: Callable[..., Awaitable[App]]
) -> None:
    hana = await app_for("hana")
    form = await hana.page("/helper/new/food")
    assert 'name="urgency"' in form and '<option value="critical">critical</option>' in form
    assert 'type="number" name="people"' in form
    bad = {**FOOD, "urgency": "", "people": "six", "narrative": ""}
    response = await send_form(hana, "food", bad)
    page = await response.text()
    assert response.status == 400
    for name in ("urgency", "people", "narrative"):
        assert f'data-field-error="{name}"' in page
    assert 'data-field-error="region"' not in page
    assert "expected a whole number from 0" in page
    assert 'value="shelter D, second floor"' in page  # what was typed is kept
    assert list(org.home("hana").outbox()) == []


async def test_a_helper_seals_sends_and_reads_her_case_with_a_photo_cleaned_first(
    org: Org, app_for: Callable[..., Awaitable[App]]
) -> None:
    hana = await app_for("hana")
    response = await send_form(hana, "food", FOOD, {"receipt.jpg": photo_with_gps()})
    assert response.status == 303 and response.headers["Location"] == "/helper/outbox"
    outbox = await hana.page("/helper/outbox")
    assert "removed" in outbox and "GPS" in outbox
    assert "The outbox is empty." in outbox
    home = org.home("hana")
    assert list(home.outbox()) == [] and list(home.pending_uploads()) == []
    case = home.state["cases"][-1]
    assert case in outbox
    # the council reads it through the CLI: the same case, the photo without its position
    shown = json.loads(await cli(org, "kim", "cases", "show", case, "--json"))
    assert shown["case_file"]["narrative"] == "rice for six people" and shown["kind"] == "food"
    assert len(shown["attachments"]) == 1 and shown["attachments"][0]["kind"] == "case"
    out = org.root / "photo.jpg"
    await cli(org, "kim", "cases", "fetch-attachment", case, shown["attachments"][0]["attachment_id"], "--out", str(out))
    assert b"GPS" not in out.read_bytes()
    assert not org.relay.leaked("김영희".encode()) and not org.relay.leaked(b"shelter D, second floor")
    # nothing of the browser's copy is left in the app's folder in memory
    assert not any(p.is_file() for p in (org.root.parent / "uploads-hana").rglob("*"))
    inbox = await hana.page("/helper/inbox")
    assert case in inbox and "rice for six people" not in inbox  # the inbox shows decisions and messages


async def test_offline_sealing_waits_in_the_outbox_until_sent(org: Org, app_for: Callable[..., Awaitable[App]]) -> None:
    hana = await app_for("hana")
    await cli(org, "hana", "sync")
    response = await send_form(hana, "food", {**FOOD, "offline": "on"})
    assert response.status == 303
    assert len(list(org.home("hana").outbox())) == 1
    page = await hana.page("/helper/outbox")
    assert "sealed intake" in page and "Send now" in page
    sent = await hana.post("/helper/outbox/send")
    assert sent.status == 303
    assert list(org.home("hana").outbox()) == []
    assert "Sent 1 intake(s)" in await hana.page("/helper/outbox")


async def test_the_inbox_shows_messages_and_a_reply_reaches_the_council(org: Org, app_for: Callable[..., Awaitable[App]]) -> None:
    await cli(org, "lee", "messages", "send", org.case, "--text", "병원비는 저희가 냅니다 <b>now</b>")
    hana = await app_for("hana")
    inbox = await hana.page("/helper/inbox")
    assert "병원비는 저희가 냅니다 &lt;b&gt;now&lt;/b&gt;" in inbox  # escaped, never markup
    assert (await hana.post(f"/helper/cases/{org.case}/message", {"text": "thank you"})).status == 303
    listed = json.loads(await cli(org, "kim", "messages", "list", org.case, "--json"))["messages"]
    assert [m["text"] for m in listed if m["author"] == "helper"] == ["thank you"]
