"""A helper's anonymous submission tokens (protocol doc §10.6): fetched while signed in, at `tessera sync` and
when few are left, and spent one per intake instead of the account's signature, so a live server cannot tell
which helper sent which case.

The tokens are kept in the keystore (they are bearer credentials until spent). What the server says is not
believed: the tokens must be issued under the one key the verified key directory publishes for the period
(a server that makes a key for one helper alone, to recognise her tokens later, is refused:
tests/hostile/test_tokens.py), and the batched proof must show every output is under it.
"""

from __future__ import annotations

from typing import Any

from client.api import Api, ApiError
from client.home import Home
from keys.directory import TOKEN_EPOCH_DAYS, DirectoryState
from keys.tokens import IssueResponse, Token, check_issue_response, finish_tokens, request_tokens
from keys.wire import from_wire, to_wire
from keys.witness import DAY

LOW = 5  # fewer than this many for the period: ask for more
BATCH = 10


def token_epoch(now: int) -> int:
    return now // DAY // TOKEN_EPOCH_DAYS


def _wallet(home: Home, now: int) -> dict[str, Any]:
    """The tokens by period, without periods no token can be spent in any more."""
    wallet = home.section("tokens")
    for epoch in [e for e in wallet if int(e) < token_epoch(now) - 1]:
        del wallet[epoch]
    return wallet


def held(home: Home, now: int) -> int:
    wallet = _wallet(home, now)
    return sum(len(wallet.get(str(e), [])) for e in (token_epoch(now) - 1, token_epoch(now)))


async def top_up(api: Api, home: Home, state: DirectoryState, *, now: int) -> int:
    """Ask for a batch of tokens when fewer than LOW are left for this period; returns how many this device
    holds. Raises ProofError when the server's answer is not under the directory's key for the period (its
    lie), ApiError for a refusal (429: the budget of the period is spent)."""
    epoch = token_epoch(now)
    wallet = _wallet(home, now)
    have = len(wallet.get(str(epoch), []))
    if have >= LOW:
        return held(home, now)
    key = state.token_key(epoch)
    if key is None:
        return held(home, now)  # the server has not published this period's key yet: nothing to ask for
    request, pending = request_tokens(key, BATCH)
    answer = await api.issue_tokens(request)
    response = from_wire(IssueResponse, answer.get("response") if isinstance(answer, dict) else None)
    check_issue_response(response, request, key)  # the directory's key, never one the server sent along
    made = finish_tokens(pending, response)
    wallet[str(epoch)] = [*wallet.get(str(epoch), []), *(to_wire(t) for t in made)]
    home.save()
    return held(home, now)


async def top_up_quietly(api: Api, home: Home, state: DirectoryState, *, now: int) -> int | None:
    """`top_up` for flows where tokens are a side errand (sync): a refused request leaves what there is."""
    try:
        return await top_up(api, home, state, now=now)
    except ApiError:
        return None


def take(home: Home, now: int) -> Token | None:
    """Remove one token (the previous period's first, they expire sooner) for an intake; the caller keeps it
    with that intake until its receipt verifies, so a retry spends the same token."""
    wallet = _wallet(home, now)
    for epoch in (str(token_epoch(now) - 1), str(token_epoch(now))):
        if wallet.get(epoch):
            return from_wire(Token, wallet[epoch].pop(0))
    return None
