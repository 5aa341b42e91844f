"""--proxy: everything goes through a SOCKS5 proxy (as through Tor); a proxy that is down is a plain error."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest

from tests.support.processes import Cli, environment, free_port, running_server, server_cli


class Socks5:
    """A minimal SOCKS5 proxy (no auth, CONNECT only) that counts the connections it relays."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        _version, count = await reader.readexactly(2)
        await reader.readexactly(count)
        writer.write(b"\x05\x00")
        _ver, _cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            writer.close()
            return
        port = int.from_bytes(await reader.readexactly(2), "big")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        self.writers.append(upstream_writer)
        self.connections += 1
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + bytes(2))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True)

    def __enter__(self) -> Socks5:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close_all() -> None:
            for w in self.writers:
                w.close()
            await asyncio.gather(*(w.wait_closed() for w in self.writers), return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def invite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("proxy")
    port = free_port()
    init = server_cli("init", "--data", str(root / "srv"), "--url", f"http://localhost:{port}", "--json", env=environment())
    with running_server(root / "srv", port, env=environment()):
        yield json.loads(init.stdout.strip().splitlines()[-1])["invite"]


def test_everything_goes_through_the_proxy(cli: Cli, invite: str) -> None:
    with Socks5() as proxy:
        cli.ok("admin", "--proxy", f"socks5://127.0.0.1:{proxy.port}", "join", invite, "--name", "admin")
        before = proxy.connections
        assert "key directory verified" in cli.ok("admin", "--proxy", f"socks5://127.0.0.1:{proxy.port}", "sync")
        assert before >= 1 and proxy.connections > before


def test_a_proxy_that_is_down_is_a_plain_error(cli: Cli, invite: str) -> None:
    code, _, err = cli.run("admin", "--proxy", f"socks5://127.0.0.1:{free_port()}", "join", invite, "--name", "admin")
    assert code == 1 and "cannot reach" in err
    code, _, err = cli.run("admin", "--proxy", "ftp://nowhere", "join", invite, "--name", "admin")
    assert code == 2 and "--proxy" in err
