"""Wrap batches on both backends: listing your own wraps, adding (existing kept), refusing strangers."""

from __future__ import annotations

import pytest

from client.api import ApiError
from keys.accounts import AccountKeys
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import KeyWrap, new_case_id, unwrap_case_key, wrap_case_key
from tests.support.world import World, submit_intake


async def test_wrap_batches(world: World) -> None:
    kim, lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    env = await submit_intake(helper)
    mine = (await kim.api.call("GET", "/v1/wraps"))["wraps"]
    assert [w["case_id"] for w in mine] == [b64u_encode(env.case_id)] and mine[0]["missing"] == []
    case_key = unwrap_case_key(
        kim.keys, env.case_id, KeyWrap(recipient=kim.keys.public().box_key, sealed=b64u_decode(mine[0]["sealed"]))
    )
    for_lee = wrap_case_key(env.case_id, case_key, lee.keys.public().box_key)
    item = {
        "case_id": b64u_encode(env.case_id),
        "recipient": b64u_encode(for_lee.recipient),
        "sealed": b64u_encode(for_lee.sealed),
    }
    assert (await kim.api.call("POST", "/v1/wraps", body={"v": 1, "wraps": [item]}))["added"] == 0  # lee has one already
    stranger = wrap_case_key(env.case_id, case_key, AccountKeys.generate().public().box_key)
    bad = {**item, "recipient": b64u_encode(stranger.recipient), "sealed": b64u_encode(stranger.sealed)}
    with pytest.raises(ApiError) as caught:
        await kim.api.call("POST", "/v1/wraps", body={"v": 1, "wraps": [bad]})
    assert caught.value.status == 400 and "member of the current council" in caught.value.message
    with pytest.raises(ApiError) as short:
        await kim.api.call("POST", "/v1/wraps", body={"v": 1, "wraps": [{**item, "sealed": b64u_encode(b"x" * 10)}]})
    assert short.value.status == 400
    unknown_case = {**item, "case_id": b64u_encode(new_case_id())}
    assert (await kim.api.call("POST", "/v1/wraps", body={"v": 1, "wraps": [unknown_case]}))["added"] == 0
