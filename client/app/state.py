"""The app's state for one run: its configuration, the keystore while it is unlocked (with the idle lock), and
what each page needs to reach the server through the same verified library code as the CLI."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiohttp
from aiohttp import web

from client.api import Api
from client.app.security import Gate
from client.home import Home
from client.net import Isolation
from client.session import Session
from keys.council import EpochRecord
from keys.directory import DirectoryState

IDLE_LOCK: Final = 15 * 60  # seconds without a request before the keystore is locked again


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """How `tessera app` was started. `uploads`: a folder in memory (tmpfs) for the files a browser sends
    before they are cleaned and sealed; None where there is none (the app then refuses attachments)."""

    home: Path
    server: str | None = None
    proxy: str | None = None
    idle_lock: float = IDLE_LOCK
    language: str | None = None
    uploads: Path | None = None


class Vault:
    """The unlocked keystore, kept in this process only, dropped after `idle` seconds without use.

    Locking drops the only reference to the unlocked state; Python cannot wipe the memory it occupied, which is
    why the idle lock is short and the app process should be stopped when the work is done."""

    def __init__(self, idle: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle, self.clock = idle, clock
        self._home: Home | None = None
        self._last = 0.0
        # files opened after a reveal, each served once by a page and then dropped (dropped too when locking)
        self.once: dict[str, tuple[str, str, bytes]] = {}
        # the last programme report made in this app, by its random token: file name -> (media type, bytes);
        # only the latest is kept, in memory only (dropped when locking)
        self.reports: dict[str, dict[str, tuple[str, bytes]]] = {}

    def unlock(self, home: Home) -> None:
        self._home, self._last = home, self.clock()

    def lock(self) -> None:
        self._home = None
        self.once.clear()
        self.reports.clear()

    def current(self) -> Home | None:
        """The unlocked home, or None (never unlocked, locked, or idle too long: then locked now)."""
        if self._home is not None and self.clock() - self._last > self.idle:
            self.lock()
        if self._home is not None:
            self._last = self.clock()
        return self._home

    @property
    def locked(self) -> bool:
        return self._home is None


@dataclass
class Notices:
    """One-off sentences shown on the next page (after a form was sent and the browser redirected)."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, text: str, kind: str = "ok") -> None:
        self.items.append((kind, text))

    def take(self) -> list[tuple[str, str]]:
        items, self.items = self.items, []
        return items


@dataclass
class Work:
    """What a page that acts needs: the unlocked home, the CLI's Session (its directory check, its Api), and
    this home's Api. Built per request from the vault."""

    home: Home
    session: Session

    @property
    def api(self) -> Api:
        return self.session.api(self.home)

    async def directory(self) -> DirectoryState:
        return await self.session.directory(self.home, self.api)

    async def council_state(self) -> tuple[DirectoryState, EpochRecord]:
        return await self.session.council_state(self.home, self.api)


def make_session(
    config: AppConfig, http: aiohttp.ClientSession, isolation: Isolation | None = None, command: str = "app"
) -> Session:
    """The CLI's Session for the app's home and server (no passphrase source: the app unlocks the home itself).
    `command`: the CLI command a page stands for, where the Session treats one differently ("rotate-keys" may
    run while a key rotation is interrupted; nothing else may)."""
    args = argparse.Namespace(
        home=str(config.home), server=config.server, proxy=config.proxy, passphrase_file=None, command=command
    )
    return Session(args, http, isolation)


CONFIG = web.AppKey("config", AppConfig)
VAULT = web.AppKey("vault", Vault)
HTTP = web.AppKey("http", aiohttp.ClientSession)
ISOLATION = web.AppKey("isolation", Isolation)
NOTICES = web.AppKey("notices", Notices)
GATE = web.AppKey("gate", Gate)
