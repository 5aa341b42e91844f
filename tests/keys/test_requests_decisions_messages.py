from dataclasses import replace

import pytest

from keys.accounts import AccountKeys
from keys.errors import DecryptionError, EncodingError, ProofError
from keys.messages import open_message, seal_message
from keys.requests import AuthHeaders, case_principal, sign_request, verify_request

KEYS = AccountKeys.generate()
CASE = b"c" * 16


def test_request_signature_covers_every_part() -> None:
    args = dict(method="PUT", path="/v1/cases/x", query="a=1", body=b'{"x":1}')
    headers = sign_request(KEYS, principal="kim", timestamp=1000, **args)  # type: ignore[arg-type]
    verify_request(KEYS.public().sign_key, AuthHeaders.parse(headers.as_dict()), **args)  # type: ignore[arg-type]
    for change in ({"method": "POST"}, {"path": "/v1/cases/y"}, {"query": "a=2"}, {"body": b'{"x":2}'}):
        with pytest.raises(ProofError):
            verify_request(KEYS.public().sign_key, headers, **{**args, **change})  # type: ignore[arg-type]
    for tampered in (replace(headers, timestamp=1001), replace(headers, principal="lee"), replace(headers, nonce=b"n" * 16)):
        with pytest.raises(ProofError):
            verify_request(KEYS.public().sign_key, tampered, **args)  # type: ignore[arg-type]
    with pytest.raises(EncodingError, match="missing header"):
        AuthHeaders.parse({})
    with pytest.raises(EncodingError):
        AuthHeaders.parse({**headers.as_dict(), "X-Tessera-Time": "-5"})
    assert case_principal(CASE).startswith("case:")


def test_messages_reach_only_their_readers() -> None:
    reader, outsider = AccountKeys.generate(), AccountKeys.generate()
    message = seal_message(
        case_id=CASE, thread="case", text="안녕하세요", author="kim", author_keys=KEYS, readers=[reader.public().box_key]
    )
    body = open_message(message, reader)
    assert body.text == "안녕하세요" and body.author == "kim" and body.author_key == KEYS.public().sign_key
    with pytest.raises(DecryptionError):
        open_message(message, outsider)
    with pytest.raises(DecryptionError):
        open_message(replace(message, thread="council"), reader)  # moved thread: the AD no longer matches
    with pytest.raises(DecryptionError):
        open_message(replace(message, case_id=b"d" * 16), reader)
