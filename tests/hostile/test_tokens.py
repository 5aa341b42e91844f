"""Anonymous submission tokens against a lying server (issue 24): the server must not be able to issue one
helper tokens under a key of its own (to recognise her intakes later), nor make her keep forged ones."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from client.api import Api
from client.directory import fetch_verified
from client.tokens import held, top_up
from keys.encoding import b64u_decode
from keys.errors import ProofError
from keys.tokens import IssueRequest, generate_token_key, issue_tokens
from keys.wire import from_wire, to_wire
from tests.support.harness import Org


async def _top_up(org: Org, who: str) -> int:
    home = org.home(who)
    home.section("tokens").clear()  # the story's intakes left her some: she asks for a batch when she has none
    home.save()
    async with aiohttp.ClientSession() as http:
        api = Api(org.stack.url, http, keys=home.keys, principal=home.account)
        pin = home.state["pin"]
        now = int(time.time())
        state = (await fetch_verified(api, pinned_seq=int(pin["seq"]), pinned_head=b64u_decode(pin["head"]), now=now)).state
        return await top_up(api, home, state, now=now)


def test_tokens_under_a_key_made_for_one_helper_are_refused(org: Org) -> None:
    """A server that issues hana's tokens under a key of its own could tell her intakes from everyone else's.
    Her client takes the period's key from the verified directory and checks the batched proof against it."""
    tagged = generate_token_key(1)

    def tag(seen: Any, _body: Any) -> dict[str, Any]:
        request = from_wire(IssueRequest, seen.json())
        forged = issue_tokens(tagged, replace(request, key_id=tagged.key_id))
        return {"response": to_wire(replace(forged, key_id=request.key_id))}  # naming the published key

    org.relay.rewrite("POST", r"/v1/tokens", tag, principal="hana")
    with pytest.raises(ProofError):
        asyncio.run(_top_up(org, "hana"))
    assert held(org.home("hana"), int(time.time())) == 0


def test_tokens_under_the_published_key_are_kept(org: Org) -> None:
    assert asyncio.run(_top_up(org, "hana")) == 10
    assert held(org.home("hana"), int(time.time())) == 10
