"""Shared pieces of the review's hostile tests (tests/hostile/test_review_*.py): a relay that can also cut a
connection (what a server does when it "does not answer"), the organisation served through it, a re-key's key
ceremony, and a receipt the server signs for whatever a helper sent it (a hostile server stores anything).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.receipts import envelope_digest, sign_receipt
from keys.wire import to_wire
from tests.hostile.lies import server_keys
from tests.hostile.relay import Relay, Stack, principal_matches
from tests.support.harness import COUNCIL, Org, run_ceremony

# Every test_review_* test shows an attack that works against main: it fails there with an AssertionError (the
# attack's evidence). The mark keeps `make verify` green until the fix; `pytest --runxfail` shows each failure, and
# strict xfail turns a fixed one into an error (XPASS), so whoever fixes a hole must remove its mark.
FAILS_ON_MAIN = pytest.mark.xfail(
    raises=AssertionError,
    strict=True,
    reason="FAILS ON MAIN: attack works (review of main after issues 18 and 25); remove this mark with the fix",
)


@dataclass
class _Cut:
    method: str
    pattern: re.Pattern[str]
    principal: str | tuple[str, ...] | None
    times: int
    after: bool  # forward the request first (the server acts on it), then cut: the answer is lost


@dataclass
class CuttingRelay(Relay):
    """The relay, able to close the connection instead of answering (the client sees a server that does not
    answer: ServerUnreachableError), `times` times for requests that match; with `after`, once the server has
    acted on the request (its answer is lost on the way)."""

    cuts: list[_Cut] = field(default_factory=list)

    def cut(
        self, method: str, pattern: str, *, principal: str | tuple[str, ...] | None = None, times: int = 1, after: bool = False
    ) -> None:
        self.cuts.append(_Cut(method, re.compile(pattern), principal, times, after))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        for cut in self.cuts:
            principal = request.headers.get("X-Tessera-Principal")
            if (
                cut.times > 0
                and cut.method == request.method
                and cut.pattern.fullmatch(request.path)
                and principal_matches(cut.principal, principal)
            ):
                cut.times -= 1
                if cut.after:
                    await super().handle(request)
                assert request.transport is not None
                request.transport.close()
                raise ConnectionResetError("the hostile relay cut the connection")
        return await super().handle(request)


@pytest.fixture
def cutting_org(templates: tuple[Path, Path, str, str], tmp_path: Path) -> Iterator[Org]:
    """The organisation after its key ceremony (as the `org` fixture), served through a CuttingRelay."""
    _bare, source, case, case2 = templates
    root = tmp_path / "org"
    shutil.copytree(source, root)
    stack = Stack(root / "server")
    stack.relay = CuttingRelay()
    with stack:
        yield Org(root, stack, case, case2)


def rekey_key_ceremony(org: Org, members: tuple[str, ...] = COUNCIL) -> None:
    """A real re-key up to its new council key in the key directory (the switch of the cases not yet done)."""
    org.ok("admin", "council", "rekey", "start", "--threshold", "2", "--members", ",".join(members))
    run_ceremony(org, members)


def receipting(org: Org) -> Any:
    """An `answer` hook for PUT /v1/cases/ID: the hostile server takes the intake whatever it is sealed to (the real
    one would refuse an intake sealed to a retired council) and signs a valid receipt for exactly those bytes."""
    server = server_keys(org.root)

    def answer(seen: Any) -> tuple[int, Any]:
        case_id = b64u_decode(seen.path.rsplit("/", 1)[1], length=16)
        body = canonical_json(json.loads(seen.body))
        receipt = sign_receipt(case_id=case_id, envelope_digest=envelope_digest(body), day=1, server=server)
        return 200, {
            "case_id": b64u_encode(case_id),
            "receipt": b64u_encode(receipt.envelope_digest),
            "day": 1,
            "signed_receipt": to_wire(receipt),
        }

    return answer


def sent_envelopes(org: Org) -> list[dict[str, Any]]:
    """Every intake envelope a helper's device sent (PUT /v1/cases/ID)."""
    return [s.json() for s in org.relay.requests("PUT", r"/v1/cases/[^/]+")]
