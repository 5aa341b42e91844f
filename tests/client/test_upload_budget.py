"""Every request of an upload waits out the server's per-minute budget (429), not only the part itself:
the status asked after a part overtook the one before it, too (client/attachments.py)."""

from __future__ import annotations

from typing import Any

import pytest

import client.attachments as attachments
from client.api import Api, ApiError

LIMITED = ApiError(429, "rate_limited", "more than 600 requests this minute; wait a minute")
OVERTAKEN = ApiError(409, "conflict", "the server holds chunks 0..7; continue from chunk 8")


class Server(Api):
    """Answers the status with 429 `limited` times, then with `received`; records every call."""

    def __init__(self, limited: int, received: int) -> None:
        super().__init__("http://127.0.0.1:1", session=None)  # type: ignore[arg-type]  # nothing is sent
        self.limited, self.received = limited, received
        self.calls: list[str] = []

    async def call(self, method: str, path: str, **_: Any) -> dict[str, int]:
        self.calls.append(method)
        if self.limited:
            self.limited -= 1
            raise LIMITED
        return {"received": self.received}

    async def put_pieces(self, path: str, chunks: list[bytes], digest: bytes, *, query: Any = None) -> dict[str, int]:
        self.calls.append("PUT")
        self.received = query["from"] + len(chunks)
        return {"received": self.received}


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(attachments, "_sleep", sleep)
    return waited


async def test_the_status_after_an_overtaken_part_waits_out_the_budget(waits: list[float]) -> None:
    server = Server(limited=2, received=8)  # the part before has landed; this one (8..15) must go again
    state = await attachments._after_conflict(server, (b"c" * 16, b"a" * 16), 8, [b"x"] * 8, b"d", OVERTAKEN)
    assert state == {"received": 16}
    assert server.calls == ["GET", "GET", "GET", "PUT"]
    assert waits == [attachments.RATE_WAIT * attachments.BACKOFF] * 2


async def test_the_budget_is_waited_out_a_bounded_number_of_times(waits: list[float]) -> None:
    server = Server(limited=attachments.RATE_WAITS + 1, received=8)
    with pytest.raises(ApiError) as caught:
        await attachments._after_conflict(server, (b"c" * 16, b"a" * 16), 8, [b"x"] * 8, b"d", OVERTAKEN)
    assert caught.value.status == 429
    assert len(waits) == attachments.RATE_WAITS and server.calls == ["GET"] * (attachments.RATE_WAITS + 1)
