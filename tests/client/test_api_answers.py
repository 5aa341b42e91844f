"""Every answer is checked against its route's type (contract/routes.py) before a command sees it: a missing
field, a field of another type, an unknown field, a status the route never answers, a signed format that does not
parse (contract/parse.py, called from client/api.py `check`). Found by review (tests/hostile/
test_review_malformed.py: on the old code these ended in KeyError and TypeError tracebacks)."""

from __future__ import annotations

from typing import Any

import pytest

from client.api import HostileServerError, MalformedAnswerError, check
from contract.routes import ANSWERS, route_of
from keys.encoding import b64u_encode

WRAP = {"case_id": "AAAA", "sealed": "BBBB", "missing": ["CCCC"]}


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/ceremonies/current", "/v1/ceremonies/current"),  # a literal segment wins over {ceremony_id}
        ("/v1/ceremonies/AbC/messages", "/v1/ceremonies/{ceremony_id}/messages"),
        ("/v1/cases/AbC", "/v1/cases/{case_id}"),
        ("/v1/cases/AbC/attachments/DeF", "/v1/cases/{case_id}/attachments/{attachment_id}"),
        ("/v1/cases", "/v1/cases"),
        ("/v1/cases//messages", None),  # an empty id is no id
        ("/v1/nothing", None),
    ],
)
def test_a_path_finds_its_route(path: str, template: str | None) -> None:
    assert route_of("GET", path) == template


def test_every_route_is_in_the_contract_once() -> None:
    assert all(route_of(method, path) == path for method, path in ANSWERS)


def test_an_answer_of_the_right_shape_passes() -> None:
    check("GET", "/v1/wraps", 200, {"wraps": [WRAP]})
    check("GET", "/v1/health", 200, {"status": "ok"})
    check("GET", "/v1/rekey", 200, {"state": "none"})  # fields with a default may be absent


@pytest.mark.parametrize(
    ("method", "path", "status", "answer", "named"),
    [
        ("GET", "/v1/wraps", 200, {}, "missing field wraps"),
        ("GET", "/v1/wraps", 200, {"wraps": None}, "answer.wraps: expected a list"),
        ("GET", "/v1/wraps", 200, {"wraps": [{**WRAP, "missing": "CCCC"}]}, "answer.wraps[0].missing: expected a list"),
        ("GET", "/v1/wraps", 200, {"wraps": [{**WRAP, "sealed": "not base64!"}]}, "base64url"),
        ("GET", "/v1/wraps", 200, {"wraps": [], "extra": 1}, "unknown field(s) extra"),
        ("GET", "/v1/wraps", 201, {"wraps": []}, "status 201"),
        ("GET", "/v1/health", 200, {"status": "fine"}, "expected one of 'ok'"),
        ("GET", "/v1/rekey", 200, {"state": "none", "old_epoch": True}, "old_epoch: expected an integer"),
        ("GET", "/v1/audit", 200, [], "expected a JSON object"),
    ],
)
def test_a_malformed_answer_is_the_servers_lie(method: str, path: str, status: int, answer: Any, named: str) -> None:
    with pytest.raises(MalformedAnswerError, match=named.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        check(method, path, status, answer)
    assert issubclass(MalformedAnswerError, HostileServerError)  # the CLI and the app say "the server lied", exit 3


def test_a_signed_format_inside_an_answer_is_parsed_by_its_own_rules() -> None:
    """A ceremony's parameters are a `keys/` wire type: its version and lengths are checked, not only its JSON."""
    key = b64u_encode(bytes(32))
    members = [{"account": name, "index": i, "sign_key": key, "box_key": key} for i, name in enumerate(("kim", "lee", "park"), 1)]
    params = {"v": 2, "epoch": 1, "threshold": 2, "participants": members, "nonce": b64u_encode(bytes(16))}
    answer = {"ceremony_id": "AAAA", "state": "running", "params": params, "messages": {"share": 2}}
    check("GET", "/v1/ceremonies/current", 200, answer)
    short = {**answer, "params": {**params, "nonce": b64u_encode(bytes(3))}}
    with pytest.raises(MalformedAnswerError, match=r"answer\.params: nonce: expected 16 bytes"):
        check("GET", "/v1/ceremonies/current", 200, short)


def test_a_route_the_client_does_not_know_is_a_programming_error() -> None:
    with pytest.raises(LookupError):
        check("GET", "/v1/nothing", 200, {})
    with pytest.raises(LookupError, match=r"Api\.stream"):
        check("GET", "/v1/cases/AbC/attachments/DeF/chunks", 200, {})
