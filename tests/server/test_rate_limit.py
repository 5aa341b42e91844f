from dataclasses import replace
from pathlib import Path

import pytest

from client.api import ApiError
from server.config import Config, load_config

from .conftest import World

LIMIT = 15


@pytest.fixture
def config(server_dir: tuple[Path, str]) -> Config:
    return replace(load_config(server_dir[0]), rate_limit=LIMIT)


async def test_rate_limit_per_principal_and_minute(world: World) -> None:
    helper = await world.enrol("h4", "helper")
    other = await world.enrol("h5", "helper")
    for _ in range(LIMIT):
        await helper.api.call("GET", "/v1/directory")
    with pytest.raises(ApiError) as caught:
        await helper.api.call("GET", "/v1/directory")
    assert caught.value.status == 429 and "wait a minute" in caught.value.message
    await other.api.call("GET", "/v1/directory")  # another principal is not affected
    world.clock.advance(61)
    await helper.api.call("GET", "/v1/directory")


async def test_invite_checks_share_one_budget(world: World) -> None:
    from server.services.auth import ANONYMOUS_PER_MINUTE

    anonymous = world.anonymous()
    body = {"v": 1, "invite_id": "AAAAAAAAAAAAAAAAAAAAAA", "secret": "x" * 32}
    statuses = []
    for _ in range(ANONYMOUS_PER_MINUTE + 1):
        try:
            await anonymous.call("POST", "/v1/invites/grant", body=body, auth=False)
        except ApiError as exc:
            statuses.append(exc.status)
    assert statuses[:-1] == [404] * ANONYMOUS_PER_MINUTE and statuses[-1] == 429
    world.clock.advance(61)
    with pytest.raises(ApiError) as caught:
        await anonymous.call("POST", "/v1/invites/grant", body=body, auth=False)
    assert caught.value.status == 404
