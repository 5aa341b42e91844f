"""Anonymous submission tokens on the server (issue 24, protocol doc §10.6): the period's key published in the
key directory, issuance to helpers within a budget, a token spent once (a retry for the same case passes)."""

from __future__ import annotations

import pytest

from client.api import ApiError
from keys.directory import DirectoryEntry, replay_to_pin
from keys.encoding import b64u_encode
from keys.tokens import IssueResponse, Token, check_issue_response, finish_tokens, request_tokens
from keys.wire import from_wire, to_wire
from server.errors import UnauthorizedError
from server.http.keys import SERVICES
from server.services import tokens
from server.services.context import Services

from .conftest import World


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
    async with services.db.write() as session:
        await tokens.spend(services, session, token, case)
    async with services.db.write() as session:
        await tokens.spend(services, session, token, case)  # the same intake again: a retry
    with pytest.raises(UnauthorizedError):
        async with services.db.write() as session:
            await tokens.spend(services, session, token, other)
    forged = Token(v=1, key_id=forged_source.key_id, nonce=forged_source.nonce, output=bytes(64))
    with pytest.raises(UnauthorizedError):
        async with services.db.write() as session:
            await tokens.spend(services, session, forged, other)
    # a token of a period long gone is refused, and what is kept of it is purged
    world.clock.advance(3 * 7 * 86_400)
    await tokens.ensure_token_key(services)
    fresh = (await _issue(world, helper.api, 1))[0]
    with pytest.raises(UnauthorizedError):
        async with services.db.write() as session:
            await tokens.spend(services, session, forged_source, other)
    await tokens.purge(services)
    async with services.db.write() as session:
        await tokens.spend(services, session, fresh, other)
    assert b64u_encode(fresh.nonce) != b64u_encode(token.nonce)
