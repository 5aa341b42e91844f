"""An administrator's work in the app, and a council member's key ceremony, in-process against a real server
through the hostile suite's relay: an invite (line and QR code) someone joins with, a revocation, the key
ceremony started and watched while members take part (one of them in the app), the server page."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable

import pytest

from client import rotation
from keys.accounts import AccountKeys, fingerprint
from keys.encoding import b64u_encode
from tests.support.app import App
from tests.support.harness import CONFIRM, Org

AppFor = Callable[..., Awaitable[App]]


async def cli(org: Org, who: str, *argv: str) -> str:
    return await asyncio.to_thread(org.ok, who, *argv)


async def test_an_invite_shows_its_line_and_qr_code_and_the_person_joins(bare_org: Org, bare_app_for: AppFor) -> None:
    admin = await bare_app_for("admin")
    made = await admin.post("/admin/invite", {"name": "sora", "role": "helper", "days": "3"})
    page = await made.text()
    assert made.status == 200 and made.headers["Cache-Control"] == "no-store"
    line = re.search(r'<code class="line" id="invite-line">([^<]+)</code>', page)
    assert line is not None and line.group(1).startswith("tessera-invite:")
    assert "<svg" in page and 'class="qrline"' in page
    await asyncio.to_thread(bare_org.ok, "sora", "join", line.group(1), "--name", "sora")
    assert 'data-account="sora"' in await admin.page("/admin/people")
    bad = await admin.post("/admin/invite", {"name": "no spaces allowed", "role": "helper"})
    assert bad.status == 400


async def test_a_revocation_needs_its_box_ticked(bare_org: Org, bare_app_for: AppFor) -> None:
    admin = await bare_app_for("admin")
    assert (await admin.post("/admin/revoke", {"name": "mina"})).status == 303
    assert not bare_org.relay.requests("POST", r"/v1/accounts/mina/revoke")
    assert (await admin.post("/admin/revoke", {"name": "mina", "sure": "on"})).status == 303
    row = re.search(r'<tr data-account="mina">.*?</tr>', await admin.page("/admin/people"), re.S)
    assert row is not None and "revoked" in row.group(0)
    gone = await asyncio.to_thread(bare_org.run, "kim", "verify", "mina")
    assert gone.code != 0 and "no active account named 'mina'" in gone.err  # the verified directory agrees


async def test_the_key_ceremony_is_started_watched_and_joined_in_the_app(bare_org: Org, bare_app_for: AppFor) -> None:
    admin = await bare_app_for("admin")
    started = await admin.post("/admin/ceremony/start", {"threshold": "2", "members": ["kim", "lee", "park"]})  # type: ignore[dict-item]
    assert started.status == 303
    assert 'data-ceremony-state="' in await admin.page("/admin/ceremony")
    kim = await bare_app_for("kim")
    shown = await kim.post("/council/ceremony/step")
    page = await shown.text()
    assert "Take part in this ceremony?" in page and "NOT verified in person" in page
    assert not bare_org.relay.requests("POST", r"/v1/ceremonies/[^/]+/messages")  # nothing sent before accepting
    accept = re.search(r'name="accept" value="([^"]+)"', page)
    assert accept is not None
    for _round in range(8):
        answer = await (await kim.post("/council/ceremony/step", {"accept": accept.group(1)})).text()
        for member in ("lee", "park"):
            await cli(bare_org, member, "council", "ceremony", "step", *CONFIRM)
        if "data-ceremony-done" in answer:
            break
    else:
        raise AssertionError("the ceremony did not finish for kim in the app")
    status = json.loads(await cli(bare_org, "lee", "council", "ceremony", "status", "--json"))
    assert status["state"] == "done"
    assert "Council epoch" in await admin.page("/admin/ceremony")


async def test_the_server_page_checks_the_audit_log_and_shows_the_policy(bare_org: Org, bare_app_for: AppFor) -> None:
    admin = await bare_app_for("admin")
    page = await admin.page("/admin/server")
    assert "answers (" in page and "hash chain intact" in page
    assert 'data-retention="open"' in page and "forever" in page
    assert bare_org.relay.requests("GET", r"/v1/audit") and bare_org.relay.requests("GET", r"/v1/policy")


async def test_an_administrator_replaces_its_keys_after_confirming(bare_org: Org, bare_app_for: AppFor) -> None:
    """The keys page runs `rotate-keys`' own code (client/rotation.py): nothing without the box ticked; then new
    keys the verified directory names, the pending invite signed again, the new safety number shown."""
    admin = await bare_app_for("admin")
    assert (await admin.post("/admin/invite", {"name": "sora", "role": "helper", "days": "3"})).status == 200
    page = await admin.page("/account/keys")
    old = re.search(r"data-mine>([^<]+)<", page)
    assert old is not None and "data-interrupted" not in page
    unticked = await admin.post("/account/keys/rotate")
    assert unticked.status == 303 and not bare_org.relay.requests("POST", r"/v1/accounts/admin/rotate")
    done = await admin.post("/account/keys/rotate", {"sure": "on"})
    page = await done.text()
    assert done.status == 200 and "data-rotated" in page and "New keys in place" in page, page
    assert "pending invite was signed again" in page
    new = re.search(r"data-new-number>([^<]+)<", page)
    assert new is not None and new.group(1) != old.group(1)
    assert bare_org.relay.requests("POST", r"/v1/accounts/admin/rotate")
    assert json.loads(await cli(bare_org, "admin", "whoami", "--json"))["safety_number"] == new.group(1)
    assert json.loads(await cli(bare_org, "kim", "verify", "admin", "--json"))["rotated"] is True
    assert 'data-account="sora"' not in await admin.page("/admin/people")  # the app goes on with the new keys
    invites = json.loads(await cli(bare_org, "admin", "admin", "invites", "--json"))["invites"]
    assert [(i["account"], i["signed"]) for i in invites] == [("sora", True)]  # signed again with the new keys


async def test_an_interrupted_rotation_is_tried_again_with_the_same_keys(bare_org: Org, bare_app_for: AppFor) -> None:
    """New keys kept on the device that the server never took (the request was lost): every page sends the person
    to Your keys, where the same rotation is tried again, never with yet another pair."""
    admin = await bare_app_for("admin")
    home = admin.vault.current()
    assert home is not None
    pending = AccountKeys.generate()
    home.state["pending_keys"] = {"sign_seed": b64u_encode(pending.sign_seed), "box_secret": b64u_encode(pending.box_secret)}
    home.save()
    blocked = await admin.client.get("/admin/people", headers=admin.cookie())
    assert blocked.status == 409 and "data-keys-link" in await blocked.text()
    assert "data-interrupted" in await admin.page("/account/keys")
    page = await (await admin.post("/account/keys/rotate", {"sure": "on"})).text()
    assert "tried again with the same new keys" in page and "New keys in place" in page, page
    assert f"data-new-number>{fingerprint(pending.public(), 'admin')}<" in page
    assert 'data-account="admin"' in await admin.page("/admin/people")


async def test_a_rotation_the_server_took_is_finished_on_the_keys_page(
    bare_org: Org, bare_app_for: AppFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server took the new keys but the app stopped before recording them: the keys page finishes the
    rotation on the verified directory's word, sending nothing again."""
    admin = await bare_app_for("admin")

    def crash(home: object, keys: object) -> None:
        raise RuntimeError("stopped before recording the new keys")

    promote = rotation._promote
    monkeypatch.setattr(rotation, "_promote", crash)
    assert (await admin.post("/account/keys/rotate", {"sure": "on"})).status == 500
    monkeypatch.setattr(rotation, "_promote", promote)
    assert "data-interrupted" in await admin.page("/account/keys")
    sent = len(bare_org.relay.requests("POST", r"/v1/accounts/admin/rotate"))
    page = await (await admin.post("/account/keys/rotate", {"sure": "on"})).text()
    assert "The interrupted key rotation is finished" in page, page
    assert len(bare_org.relay.requests("POST", r"/v1/accounts/admin/rotate")) == sent == 1
    assert json.loads(await cli(bare_org, "admin", "whoami", "--json"))["safety_number"] in page
