"""Anonymous submission tokens on the server (issue 24, protocol doc §10.6): the period's key published in the
key directory, issuance to helpers within a budget, a token spent once (a retry for the same case passes)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from client.api import Api, ApiError
from keys.council import EpochRecord
from keys.directory import DirectoryEntry, replay_to_pin
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, reply_keys
from keys.requests import case_principal
from keys.tokens import IssueResponse, Token, check_issue_response, finish_tokens, request_tokens
from keys.wire import from_wire, to_wire
from server.errors import UnauthorizedError
from server.http.keys import SERVICES
from server.services import tokens
from server.services.context import Services
from tests.support.world import Member, World, council_record, sealed_intake

SECRET = b"\x07" * 32


async def _directory_key(world: World, api):  # type: ignore[no-untyped-def]
    answer = await api.call("GET", "/v1/directory")
    entries = [from_wire(DirectoryEntry, e) for e in answer["entries"]]
    state = replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash())
    key = state.token_key(tokens.token_epoch(int(world.clock()) // 86_400))
    assert key is not None, "the server publishes the period's token key in the key directory"
    return key


async def _issue(world: World, api, count: int) -> tuple[Token, ...]:  # type: ignore[no-untyped-def]
    key = await _directory_key(world, api)
    request, pending = request_tokens(key, count)
    answer = await api.call("POST", "/v1/tokens", body=to_wire(request))
    response = from_wire(IssueResponse, answer["response"])
    check_issue_response(response, request, key)
    return finish_tokens(pending, response)


def _services(world: World) -> Services:
    return world.client.server.app[SERVICES]


async def test_a_helper_gets_tokens_under_the_published_key_within_a_budget(world: World) -> None:
    helper = await world.enrol("hana", "helper")
    made = await _issue(world, helper.api, 10)
    assert len(made) == 10 and len({t.nonce for t in made}) == 10
    budget = _services(world).config.token_budget
    await _issue(world, helper.api, budget - 10)
    with pytest.raises(ApiError) as caught:
        await _issue(world, helper.api, 1)
    assert caught.value.status == 429 and "tokens for this period are used" in caught.value.message
    other = await world.enrol("mina", "helper")  # a budget per helper
    assert len(await _issue(world, other.api, 1)) == 1
    admin = await world.admin()
    with pytest.raises(ApiError) as refused:
        await _issue(world, admin.api, 1)
    assert refused.value.status == 403


async def test_a_token_is_spent_once_and_a_retry_for_the_same_case_passes(world: World) -> None:
    helper = await world.enrol("hana", "helper")
    (token, forged_source) = await _issue(world, helper.api, 2)
    services = _services(world)
    case, other = b"\x01" * 16, b"\x02" * 16
    pair = await tokens.valid_key(services, token)
    async with services.db.write() as session:
        await tokens.spend(services, session, pair, token, case)
    async with services.db.write() as session:
        await tokens.spend(services, session, pair, token, case)  # the same intake again: a retry
    assert not await tokens.spent_on_another_case(services, token, case)
    assert await tokens.spent_on_another_case(services, token, other)
    with pytest.raises(UnauthorizedError):
        async with services.db.write() as session:
            await tokens.spend(services, session, pair, token, other)
    forged = Token(v=1, key_id=forged_source.key_id, nonce=forged_source.nonce, output=bytes(64))
    with pytest.raises(UnauthorizedError):
        await tokens.valid_key(services, forged)
    assert await tokens.valid_key(services, forged_source) == pair
    # a token of a period long gone is refused, and what is kept of it is purged
    world.clock.advance(3 * 7 * 86_400)
    await tokens.ensure_token_key(services)
    fresh = (await _issue(world, helper.api, 1))[0]
    with pytest.raises(UnauthorizedError):
        await tokens.valid_key(services, forged_source)
    await tokens.purge(services)
    fresh_pair = await tokens.valid_key(services, fresh)
    assert fresh_pair.epoch == pair.epoch + 3
    async with services.db.write() as session:
        await tokens.spend(services, session, fresh_pair, fresh, other)
    assert b64u_encode(fresh.nonce) != b64u_encode(token.nonce)


def _sealed(helper: Member, record: EpochRecord, seq: int, head: bytes) -> IntakeEnvelope:
    return sealed_intake(helper, record, seq, head, reply_secret=SECRET)


def _as_case(world: World, envelope: IntakeEnvelope, token: Token | None) -> Api:
    api = world.anonymous().as_principal(case_principal(envelope.case_id), reply_keys(SECRET, envelope.case_id))
    return api if token is None else api.with_token(token)


async def test_an_intake_paid_with_a_token_names_no_account(world: World) -> None:
    """A new intake as its own case principal, paying with a token: stored, receipted, audited without the helper's
    name; a retry with the same token gets the same receipt; the token does not pay for another case; without a
    token a case principal cannot create a case, and its body is never read."""
    await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    first, second = await _issue(world, helper.api, 2)
    record, seq, head = await council_record(helper.api)
    envelope = _sealed(helper, record, seq, head)
    path = f"/v1/cases/{b64u_encode(envelope.case_id)}"
    anonymous = world.anonymous().with_token(first)  # the key directory, read with the token alone
    assert (await anonymous.call("GET", "/v1/directory"))["entries"]
    answer = await _as_case(world, envelope, first).call("PUT", path, body=to_wire(envelope))
    again = await _as_case(world, envelope, first).call("PUT", path, body=to_wire(envelope))
    assert again["signed_receipt"] == answer["signed_receipt"]
    audit = [e for e in (await (await world.admin()).api.call("GET", "/v1/audit"))["entries"] if e["action"] == "case.submitted"]
    assert audit and all("hana" not in json.dumps(e) for e in audit), audit
    other = _sealed(helper, record, seq, head)
    with pytest.raises(ApiError) as spent:
        await _as_case(world, other, first).call("PUT", f"/v1/cases/{b64u_encode(other.case_id)}", body=to_wire(other))
    assert spent.value.status == 401
    with pytest.raises(ApiError) as unpaid:
        await _as_case(world, other, None).call("PUT", f"/v1/cases/{b64u_encode(other.case_id)}", body=to_wire(other))
    assert unpaid.value.status == 401
    # the envelope must name the key that signed the request: another case's reply key is refused
    stolen = replace(other, reply_sign_key=envelope.reply_sign_key)
    with pytest.raises(ApiError) as foreign:
        await _as_case(world, other, second).call("PUT", f"/v1/cases/{b64u_encode(other.case_id)}", body=to_wire(stolen))
    assert foreign.value.status in (401, 403)
    # a garbage token is refused before the body is read
    forged = Token(v=1, key_id=second.key_id, nonce=second.nonce, output=bytes(64))
    with pytest.raises(ApiError) as bad:
        await _as_case(world, other, forged).call("PUT", f"/v1/cases/{b64u_encode(other.case_id)}", body=to_wire(other))
    assert bad.value.status == 401
    done = await _as_case(world, other, second).call("PUT", f"/v1/cases/{b64u_encode(other.case_id)}", body=to_wire(other))
    assert done["signed_receipt"]
