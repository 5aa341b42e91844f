"""Parser fuzzing: arbitrary bytes and arbitrary JSON into every parser of `keys/` and every wire type give
only the project's own errors, never another exception, and never hang (Hypothesis deadlines)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client.forms import KINDS, FormError, parse_form
from keys.accounts import AccountPublic
from keys.ceremony import DealerSecret
from keys.errors import TesseraError
from keys.group import Point, Scalar
from keys.invites import Invite
from keys.keystore import open_keystore
from keys.proofs import Proof, SwitchProof
from keys.requests import AuthHeaders
from keys.reveal import Blinding
from keys.wire import decode_json, from_wire

WIRE_MODULES = (
    "attachments",
    "attestation",
    "ceremony",
    "checkpoints",
    "council",
    "decisions",
    "directory",
    "dkg",
    "envelope",
    "invites",
    "kem",
    "keyswitch",
    "messages",
    "receipts",
    "redistribute",
    "reveal",
)
MODULES = [importlib.import_module(f"keys.{name}") for name in WIRE_MODULES]
WIRE_TYPES = sorted(
    {
        obj
        for m in MODULES
        for obj in vars(m).values()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__.startswith("keys.")
        and any(f.init for f in dataclasses.fields(obj))
    }
    | {AccountPublic},
    key=lambda t: t.__name__,
)
FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])  # a hang fails
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.text(max_size=40)
    | st.sampled_from(["AA", "A" * 43, "_" * 86, ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)


def only_our_errors(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(TesseraError):
        fn()


def test_the_fuzzed_set_is_not_empty() -> None:
    names = {t.__name__ for t in WIRE_TYPES}
    assert {
        "IntakeEnvelope",
        "AttachmentDescriptor",
        "RevealRequest",
        "PartialDecryption",
        "EpochRecord",
        "DirectoryEntry",
        "Grant",
        "Checkpoint",
    } <= names


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=lambda t: t.__name__)
@FUZZ
@given(data=json_values)
def test_arbitrary_json_into_every_wire_type(cls: type, data: Any) -> None:
    only_our_errors(lambda: from_wire(cls, data))


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=lambda t: t.__name__)
@FUZZ
@given(blob=st.binary(max_size=300))
def test_arbitrary_bytes_into_every_wire_type(cls: type, blob: bytes) -> None:
    only_our_errors(lambda: decode_json(cls, blob))


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=lambda t: t.__name__)
@FUZZ
@given(data=st.data())
def test_well_shaped_objects_with_wrong_values(cls: type, data: st.DataObject) -> None:
    """Every field present with a plausible JSON type, but random content (lengths, points, versions)."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    obj = {
        f.name: data.draw(
            st.one_of(
                st.text(alphabet="AB_-0123456789abc", max_size=90), st.integers(-3, 2**33), st.lists(st.just("AA"), max_size=3)
            )
        )
        for f in fields
    }
    if hasattr(cls, "VERSION"):
        obj["v"] = cls.VERSION  # type: ignore[attr-defined]
    only_our_errors(lambda: from_wire(cls, obj))


PARSERS: dict[str, Callable[[bytes], Any]] = {
    "Point.decode": Point.decode,
    "Point.decode_for_mul+mul": lambda b: Point.decode_for_mul(b).mul(Scalar.from_int(3)),
    "Scalar": Scalar,
    "Proof.decode": Proof.decode,
    "SwitchProof.decode": SwitchProof.decode,
    "DealerSecret.decode": DealerSecret.decode,
    "Blinding.decode": Blinding.decode,
    "open_keystore": lambda b: open_keystore(b, "passphrase"),
    "Invite.decode": lambda b: Invite.decode(b.decode("utf-8", "replace")),
    "AuthHeaders.parse": lambda b: AuthHeaders.parse(
        dict(
            zip(
                ["X-Tessera-Principal", "X-Tessera-Time", "X-Tessera-Nonce", "X-Tessera-Signature"],
                b.decode("latin-1").split("|"),
                strict=False,
            )
        )
    ),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(blob=st.binary(max_size=200))
def test_arbitrary_bytes_into_every_parser(name: str, blob: bytes) -> None:
    only_our_errors(lambda: PARSERS[name](blob))


@pytest.mark.parametrize("name", ["Point.decode", "Scalar", "Proof.decode"])
@FUZZ
@given(blob=st.binary(min_size=32, max_size=64))
def test_right_length_garbage(name: str, blob: bytes) -> None:
    size = 64 if name == "Proof.decode" else 32
    only_our_errors(lambda: PARSERS[name](blob[:size].ljust(size, bytes(1))))


@FUZZ
@given(text=st.text(max_size=400), kind=st.sampled_from(sorted(KINDS)))
def test_forms_give_only_form_errors(text: str, kind: str) -> None:
    with contextlib.suppress(FormError):
        parse_form(text, kind)


@FUZZ
@given(value=json_values)
def test_fuzz_inputs_are_json_serialisable(value: Any) -> None:
    """What the strategy above draws is JSON a client could send: it survives a JSON round trip unchanged
    (no bytes, tuples, NaN or other values json.loads never gives a parser)."""
    assert json.loads(json.dumps(value, allow_nan=False)) == value
