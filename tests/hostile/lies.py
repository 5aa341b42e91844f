"""What a server in an attacker's hands can make: its own keys, re-chained directories, forged case files.

Everything here uses only what such a server holds: its signing key, the public directory, the stored
ciphertexts and the public keys in them. Nothing here holds a member's or a helper's secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keys import aead
from keys.accounts import AccountKeys
from keys.checkpoints import sign_checkpoint
from keys.council import EpochRecord
from keys.directory import DirectoryEntry
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, SignedCaseFile, wrap_case_key
from keys.group import default_rng
from keys.hashing import TAG_AD_CASE_FILE, TAG_AD_IDENTITY, TAG_INTAKE_SIG, digest, kdf32
from keys.kem import encapsulate, header_digest
from keys.wire import encode_json, from_wire, signing_bytes, to_wire

if TYPE_CHECKING:
    from tests.support.harness import Org

ATTACKER = AccountKeys.generate()  # the keys a hostile server substitutes for people's keys


def server_keys(org_root: Path) -> AccountKeys:
    data = (org_root / "server" / "server.key").read_bytes()
    return AccountKeys(sign_seed=data[:32], box_secret=data[32:])


def entries_of(body: dict[str, Any]) -> list[DirectoryEntry]:
    return [from_wire(DirectoryEntry, e) for e in body["entries"]]


def rechain(entries: list[DirectoryEntry]) -> list[DirectoryEntry]:
    """Give genuine entries new positions one after the other (what a server does after dropping one)."""
    out: list[DirectoryEntry] = []
    prev = entries[0].prev
    for seq, entry in enumerate(entries, start=entries[0].seq):  # from the first one's place (genesis, or after a pin)
        moved = replace(entry, seq=seq, prev=prev)
        out.append(moved)
        prev = moved.hash()
    return out


def directory_answer(entries: list[DirectoryEntry], server: AccountKeys, original: dict[str, Any]) -> dict[str, Any]:
    """The directory answer `original` showing `entries` instead, with a checkpoint the server signs for their head."""
    answer = dict(original)
    answer["entries"] = [to_wire(e) for e in entries]
    day = int(original["checkpoint"]["day"])
    answer["checkpoint"] = to_wire(sign_checkpoint(entries[-1].seq, entries[-1].hash(), day, server))
    return answer


def add_to_missing(box_key: bytes) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """A rewrite of `GET /v1/wraps` that lists `box_key` as a member lacking every case key (issue 18 item 2)."""
    intruder = b64u_encode(box_key)

    def rewrite(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        for item in body["wraps"]:
            item["missing"] = [*item["missing"], intruder]
        return body

    return rewrite


def forge_case(
    real: dict[str, Any], record: EpochRecord, *, author: str, author_keys: AccountKeys
) -> tuple[dict[str, Any], bytes]:
    """A case the server makes up under a real case id: its own case key, a case file `author` never signed
    (signed by `author_keys`), naming the server's own attachment key, wrapped to every council member and to
    the real case's public reply key (so the helper's own client opens it). Returns (case answer, case key)."""
    envelope = from_wire(IntakeEnvelope, real["envelope"])
    case_id = envelope.case_id
    case_key = default_rng(32)
    identity_key = default_rng(32)
    identity = b'{"full_name":"made up"}'
    header = encapsulate(council_key=record.key, kid=record.kid, case_id=case_id, identity_key=identity_key, rng=default_rng)
    unsigned = SignedCaseFile(
        v=3,
        case_id=case_id,
        body=b'{"kind":"medical","schema":1,"fields":{"region":"Jilin","urgency":"high","narrative":"made up"}}',
        author=author,
        author_sign_key=author_keys.public().sign_key,
        head_seq=0,
        head_hash=bytes(32),
        identity_digest=digest(identity),
        header_digest=header_digest(header),
        reply_box_key=envelope.reply_box_key,
        reply_sign_key=envelope.reply_sign_key,
        attachment_key=ATTACKER.public().box_key,
        attachments=(),
        signature=bytes(64),
    )
    signed = replace(unsigned, signature=author_keys.sign(TAG_INTAKE_SIG, signing_bytes(unsigned)))
    forged = replace(
        envelope,
        kid=record.kid,
        epoch=record.epoch,
        case_file=aead.seal_padded(case_key, encode_json(signed), kdf32(TAG_AD_CASE_FILE, case_id)),
        wraps=tuple(wrap_case_key(case_id, case_key, m.box_key) for m in record.members),
        reply_wrap=wrap_case_key(case_id, case_key, envelope.reply_box_key),
        header=header,
        identity=aead.seal_padded(identity_key, identity, kdf32(TAG_AD_IDENTITY, case_id)),
    )
    answer = dict(real)
    answer["envelope"] = to_wire(forged)
    answer["switched"] = None
    return answer, case_key


def forge_for(org: Org, principal: str) -> None:
    """The relay serves `principal` hana's first case with its case file signed by ATTACKER instead of her."""
    record = from_wire(EpochRecord, org.home("kim").state["council"])
    org.relay.rewrite(
        "GET",
        f"/v1/cases/{org.case}",
        lambda _s, body: forge_case(body, record, author="hana", author_keys=ATTACKER)[0],
        principal=principal,
    )
