"""What every service call gets: the database, the configuration, the clock, the server's keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from keys.accounts import AccountKeys
from keys.tokens import TokenKeyPair
from server.config import Config
from server.errors import ForbiddenError
from server.services.budgets import Limits
from server.services.directory import DirectoryCache
from server.storage.db import Database

DAY = 86_400
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an account (with its role) or a case's helper through the case's reply key."""

    name: str
    role: str  # "helper" | "council" | "admin" | "case"
    sign_key: bytes
    case_id: bytes | None = None

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise ForbiddenError(f"this needs the role {' or '.join(roles)}")


@dataclass
class Services:
    config: Config
    db: Database
    server_keys: AccountKeys
    clock: Clock = field(default=time.time)
    directory: DirectoryCache = field(default_factory=DirectoryCache)
    limits: Limits = field(default_factory=Limits)  # this process's request budgets (in memory only)
    token_keys: dict[int, TokenKeyPair] = field(default_factory=dict)  # by period, as loaded (services/tokens.py)

    def now(self) -> int:
        return int(self.clock())

    def today(self) -> int:
        return self.now() // DAY
