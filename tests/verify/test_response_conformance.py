"""Response conformance: schemathesis checks what a real in-process server answers against the response
schemas of /v1/openapi.json (contract/answers.py) - `response_schema_conformance`, with the status code
and content type - on the routes a story of real, signed requests reaches: an organisation with a council, an
intake, its triage, a reveal, a decision, messages, an attachment uploaded and downloaded, a witness's
cosignature, submission tokens, an invitation and a council membership change opened.

The requests are schemathesis cases of the document's operations (made with the real ids and bodies) sent
from this thread to create_app served on a loopback port by a thread of its own. The routes left out here
(NOT_REACHED) are reached by the server tests, which check every answer against the same schemas
(tests/conformance.py, in tests/server/conftest.py)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
import requests
import schemathesis
from aiohttp import web
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from client.tokens import token_epoch
from keys.accounts import AccountKeys
from keys.attachments import case_attachment_key, new_descriptor, padded_size, seal_descriptor, seal_stream, sign_attachment_list
from keys.decisions import propose, vote
from keys.directory import DirectoryEntry, payload_for, replay_to_pin, sign_next
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import IntakeEnvelope, reply_keys, unwrap_case_key
from keys.invites import Invite, sign_grant
from keys.messages import seal_message
from keys.requests import case_principal, sign_request
from keys.reveal import approve_reveal, request_reveal
from keys.tokens import request_tokens
from keys.wire import from_wire, to_wire
from keys.witness import cosign
from server.app import create_app
from server.config import load_config
from server.http.routes import ROUTES
from server.main import initialise
from tests.support.org import Org, build_org
from tests.support.processes import free_port

T = TypeVar("T")
CHECKS = [response_schema_conformance, status_code_conformance, content_type_conformance]
# routes this story does not reach with a success: joining and revoking (a key-directory entry, as rotating),
# a re-key of the council (its ceremony and the key switch) and a ceremony's round messages
NOT_REACHED = {
    ("POST", "/v1/join"),
    ("POST", "/v1/accounts/{account}/revoke"),
    ("POST", "/v1/ceremonies"),
    ("GET", "/v1/rekey/headers"),
    ("POST", "/v1/rekey/contributions"),
    ("GET", "/v1/rekey/switched"),
    ("POST", "/v1/rekey/attestation"),
    ("POST", "/v1/ceremonies/{ceremony_id}/messages"),
}


class Served:
    """create_app on 127.0.0.1, run by an event loop in a thread of its own."""

    def __init__(self, data: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{free_port()}"
        self.runner = web.AppRunner(create_app(load_config(data)))
        self.run(self.runner.setup())
        self.run(web.TCPSite(self.runner, "127.0.0.1", int(self.base.rsplit(":", 1)[1])).start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def stop(self) -> None:
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Org]]:
    data = tmp_path_factory.mktemp("conformance") / "server"
    invite, _ = initialise(data, db_url=None, url="http://tessera.test", admin_name="admin")
    server = Served(data)

    async def organise() -> Org:
        session = aiohttp.ClientSession()  # closed by the server's loop below, after the test
        org = await build_org(server.base, session, Invite.decode(invite), helpers=1)
        org.admin.api.session = session
        return org

    try:
        org = server.run(organise())
        yield server, org
        server.run(org.admin.api.session.close())
    finally:
        server.stop()


class Caller:
    """Sends schemathesis cases of the served document, signed, and checks each answer's conformance."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.schema = schemathesis.openapi.from_dict(requests.get(f"{base}/v1/openapi.json", timeout=30).json())
        self.reached: set[tuple[str, str]] = set()
        self.checked = 0

    def call(
        self,
        who: tuple[str, AccountKeys] | None,
        method: str,
        path: str,
        *,
        params: dict[str, bytes | str] | None = None,  # ids (bytes) as base64url, names as they are
        query: dict[str, str] | None = None,
        body: Any = None,
        raw: bytes | None = None,
    ) -> Any:
        operation = self.schema[path][method]
        case = operation.Case(
            path_parameters={k: b64u_encode(v) if isinstance(v, bytes) else v for k, v in (params or {}).items()},
            query=query,
            **({"body": body} if body is not None else {}),
            **({"media_type": "application/octet-stream"} if raw is not None else {}),
        )
        sent = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        text_query = urlencode(query or {})
        headers = {"Content-Type": "application/octet-stream" if raw is not None else "application/json"} if sent else {}
        if who is not None:
            principal, keys = who
            signed = sign_request(
                keys,
                principal=principal,
                method=method,
                path=case.formatted_path,
                query=text_query,
                body=sent,
                timestamp=int(time.time()),
            )
            headers.update(signed.as_dict())
        url = self.base + case.formatted_path + (f"?{text_query}" if text_query else "")
        response = self.http.request(method, url, data=sent or None, headers=headers, timeout=60)
        assert response.status_code < 300, (method, path, response.status_code, response.text[:300])
        case.validate_response(response, checks=CHECKS)
        self.checked += 1
        self.reached.add((method, path))
        return response.content if response.headers["Content-Type"].startswith("application/octet-stream") else response.json()


def test_answers_conform_to_the_document(served: tuple[Served, Org]) -> None:
    server, org = served
    api = Caller(server.base)
    admin = ("admin", org.admin.keys)
    kim, lee = org.council[0], org.council[1]
    member = (kim.name, kim.keys)
    helper = org.helpers[0]

    api.call(None, "GET", "/v1/health")
    api.call(None, "GET", "/v1/openapi.json")
    for path in ("/v1/accounts", "/v1/invites", "/v1/audit", "/v1/policy", "/v1/rekey", "/v1/ceremonies/current"):
        api.call(admin, "GET", path)
    api.call((helper.name, helper.keys), "GET", "/v1/directory", query={"after": "0"})
    ceremony = api.call(member, "GET", "/v1/ceremonies/current")
    assert ceremony["state"] == "done"
    api.call(member, "GET", "/v1/ceremonies/{ceremony_id}/messages", params={"ceremony_id": b64u_decode(ceremony["ceremony_id"])})

    # a witness's cosignature of the directory head; anonymous submission tokens for the helper
    hour = int(time.time()) // 3600 * 3600  # a cosignature is made for a whole hour
    api.call(member, "POST", "/v1/directory/cosignatures", body=to_wire(cosign(org.state, kim.keys, now=hour)))
    token_key = org.state.token_key(token_epoch(int(time.time())))
    assert token_key is not None
    as_helper = (helper.name, helper.keys)
    api.call(as_helper, "POST", "/v1/tokens", body=to_wire(request_tokens(token_key, 2)[0]))

    # an invitation: made, its grant fetched with the secret (no signature), and signed again
    today = int(time.time()) // 86400
    grant = sign_grant(
        invite_id=os.urandom(16), account="newcomer", role="helper", expires_day=today + 7, issuer="admin", keys=org.admin.keys
    )
    created = api.call(admin, "POST", "/v1/invites", body=to_wire(grant))
    api.call(None, "POST", "/v1/invites/grant", body={"v": 1, "invite_id": created["invite_id"], "secret": created["secret"]})
    api.call(admin, "PUT", "/v1/invites/{invite_id}/grant", params={"invite_id": grant.invite_id}, body=to_wire(grant))

    # an intake, as the helper's account
    envelope = org.seal(helper)
    case_id = envelope.case_id
    answer = api.call(as_helper, "PUT", "/v1/cases/{case_id}", params={"case_id": case_id}, body=to_wire(envelope))
    assert answer["case_id"] == b64u_encode(case_id)
    api.call(member, "GET", "/v1/cases", query={"state": "open"})
    api.call(member, "GET", "/v1/case-pages")
    api.call(member, "GET", "/v1/wraps")
    api.call(member, "POST", "/v1/wraps", body={"v": 1, "wraps": []})
    stored = from_wire(IntakeEnvelope, api.call(member, "GET", "/v1/cases/{case_id}", params={"case_id": case_id})["envelope"])
    case_key = unwrap_case_key(kim.keys, case_id, stored.wraps[0])
    record = org.record

    # a reveal request and one approval
    request, _blinding = request_reveal(
        record=record,
        header=stored.header,
        case_id=case_id,
        keys=kim.keys,
        purpose="relocation",
        case_key=case_key,
        expiry=int(time.time()) + 3600,
    )
    api.call(member, "POST", "/v1/reveals", body=to_wire(request))
    api.call((lee.name, lee.keys), "GET", "/v1/reveals")
    index = record.member_by_sign_key(lee.keys.public().sign_key).index  # type: ignore[union-attr]
    share = lee.share(record.epoch)
    now = int(time.time())
    partial = approve_reveal(request, record=record, header=stored.header, index=index, share=share, keys=lee.keys, now=now)
    rid = {"request_id": request.request_id}
    api.call((lee.name, lee.keys), "POST", "/v1/reveals/{request_id}/partials", params=rid, body=to_wire(partial))
    api.call(member, "GET", "/v1/reveals/{request_id}", params=rid)

    # a decision
    proposal = propose(
        case_id=case_id,
        case_key=case_key,
        action="approve",
        note="rent for three months",
        epoch=record.epoch,
        needed=2,
        head_seq=org.state.seq,
        head_hash=org.state.head,
        keys=kim.keys,
    )
    api.call(member, "POST", "/v1/cases/{case_id}/proposals", params={"case_id": case_id}, body=to_wire(proposal))
    api.call(member, "GET", "/v1/proposals")
    pid = {"proposal_id": proposal.proposal_id}
    api.call(member, "GET", "/v1/proposals/{proposal_id}", params=pid)
    ballot = vote(proposal=proposal, approve=True, head_seq=org.state.seq, head_hash=org.state.head, keys=kim.keys)
    api.call(member, "POST", "/v1/proposals/{proposal_id}/votes", params=pid, body=to_wire(ballot))

    # a message, read as the case
    readers = [m.box_key for m in record.members] + [stored.reply_box_key]
    message = seal_message(
        case_id=case_id, thread="case", text="we call you", author=kim.name, author_keys=kim.keys, readers=readers
    )
    api.call(member, "POST", "/v1/cases/{case_id}/messages", params={"case_id": case_id}, body=to_wire(message))
    reply = reply_keys(helper.keys.sign_seed, case_id)
    as_case = (case_principal(case_id), reply)
    api.call(as_case, "GET", "/v1/cases/{case_id}/messages", params={"case_id": case_id})
    api.call(as_case, "GET", "/v1/cases/{case_id}", params={"case_id": case_id})

    # an attachment: registered, uploaded, listed and downloaded
    photo = b"\xff\xd8 a photo " * 40
    descriptor = new_descriptor(
        case_id=case_id, kind="case", name="receipt.jpg", media_type="image/jpeg", size=len(photo), removed=(), reply=reply
    )
    sealed_descriptor = seal_descriptor(descriptor, case_attachment_key(case_id, case_key))
    ids = {"case_id": case_id, "attachment_id": descriptor.attachment_id}
    registration = {
        "v": 1,
        "attachment_id": b64u_encode(descriptor.attachment_id),
        "descriptor": b64u_encode(sealed_descriptor),
        "padded_size": padded_size(len(photo)),
    }
    api.call(as_case, "POST", "/v1/cases/{case_id}/attachments", params={"case_id": case_id}, body=registration)
    api.call(as_case, "POST", "/v1/cases/{case_id}/attachments", params={"case_id": case_id}, body=registration)  # again: 200
    chunks = b"".join(seal_stream(io.BytesIO(photo), descriptor))
    part = "/v1/cases/{case_id}/attachments/{attachment_id}/chunks"
    done = api.call(as_case, "PUT", part, params=ids, query={"from": "0"}, raw=chunks)
    assert done["complete"] and "signed_receipt" in done
    listing = sign_attachment_list(case_id=case_id, serial=1, attachment_ids=[descriptor.attachment_id], reply=reply)
    api.call(as_case, "PUT", "/v1/cases/{case_id}/attachment-list", params={"case_id": case_id}, body=to_wire(listing))
    api.call(member, "GET", "/v1/cases/{case_id}/attachments", params={"case_id": case_id})
    api.call(member, "GET", "/v1/cases/{case_id}/attachments/{attachment_id}", params=ids)
    assert api.call(member, "GET", part, params=ids) == chunks

    # a council membership change opened (the same members, new shares): a ceremony of the other kind
    members = [p.name for p in org.council]
    change = {"v": 1, "threshold": 2, "members": members, "dealers": []}
    opened = api.call(admin, "POST", "/v1/ceremonies/redistribute", body=change)
    ceremony_id = {"ceremony_id": b64u_decode(opened["ceremony_id"])}
    assert api.call(member, "GET", "/v1/ceremonies/{ceremony_id}/messages", params=ceremony_id)["kind"] == "redistribute"

    # the helper's device keys replaced: both keys sign the directory entry after the verified head
    entries = [from_wire(DirectoryEntry, e) for e in api.call(as_helper, "GET", "/v1/directory")["entries"]]
    state = replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash())
    new = AccountKeys.generate()
    day = int(time.time()) // 86400
    payload = payload_for("account-rotated", account=helper.name, keys=new.public())
    rotation = {
        "v": 2,
        "sign_key": b64u_encode(new.public().sign_key),
        "box_key": b64u_encode(new.public().box_key),
        "seq": state.seq + 1,
        "prev": b64u_encode(state.head),
        "day": day,
        "signatures": [to_wire(sign_next("account-rotated", payload, k, state, day=day)) for k in (helper.keys, new)],
    }
    api.call(as_helper, "POST", "/v1/accounts/{account}/rotate", params={"account": helper.name}, body=rotation)

    every = {(r.method, r.path) for r in ROUTES}
    assert every >= NOT_REACHED
    assert api.reached == every - NOT_REACHED, sorted(every - NOT_REACHED - api.reached)
    assert api.checked > len(api.reached)
