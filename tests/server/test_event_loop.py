"""The server runs on uvloop's event loop where it is installed (the `server` extra), else on asyncio's own."""

from __future__ import annotations

import asyncio
import sys

import pytest

from server.main import event_loop_factory


def test_uvloop_where_installed() -> None:
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed here (the server extra installs it)")
    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_loop_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    assert event_loop_factory() is None
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        assert runner.run(asyncio.sleep(0, result="ran")) == "ran"
