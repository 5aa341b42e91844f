"""The checked case opener (issue 25 item 4): a case file opens for a reader only if a helper of the verified
key directory wrote it with her key, if a helper reading her own case is its author with her own reply keys,
and if the directory head its author signed is one of the reader's chain."""

from dataclasses import fields, replace

import pytest

from keys import aead
from keys.accounts import AccountKeys
from keys.directory import payload_for
from keys.envelope import (
    IntakeEnvelope,
    LegacyCaseFile,
    OwnCase,
    SignedCaseFile,
    new_case_id,
    open_case_file,
    open_checked_case_file,
    reply_keys,
    seal_intake,
    unwrap_case_key,
)
from keys.errors import DecryptionError, DirectoryError, ProofError
from keys.hashing import TAG_AD_CASE_FILE, TAG_INTAKE_SIG, kdf32
from keys.wire import encode_json, signing_bytes, to_wire
from tests.support.council import Council

from .test_directory import Chain

HANA, MINA = AccountKeys.generate(), AccountKeys.generate()
HANA_SECRET, MINA_SECRET = b"\x01" * 32, b"\x02" * 32


@pytest.fixture(scope="module")
def chain(council: Council) -> Chain:
    chain = Chain()
    admin = AccountKeys.generate()
    chain.add("admin1", "admin", admin, chain.server)
    for i, keys in council.keys.items():
        chain.add(f"member-{i}", "council", keys, admin)
    chain.append("council-epoch", payload_for("council-epoch", record=council.record), list(council.keys.values()))
    chain.add("hana", "helper", HANA, admin)
    chain.add("mina", "helper", MINA, admin)
    return chain


def seal(chain: Chain, council: Council, *, author: str = "hana", keys: AccountKeys = HANA, **kw: object) -> IntakeEnvelope:
    args: dict[str, object] = dict(
        case_id=new_case_id(),
        case_file=b'{"kind":"food"}',
        identity=b"identity",
        record=council.record,
        author=author,
        author_keys=keys,
        reply_secret=HANA_SECRET,
        head_seq=chain.state.seq,
        head_hash=chain.state.head,
    )
    args.update(kw)
    return seal_intake(**args)  # type: ignore[arg-type]


def member_key(env: IntakeEnvelope, council: Council) -> bytes:
    keys = council.keys[1]
    wrap = next(w for w in env.wraps if w.recipient == keys.public().box_key)
    return unwrap_case_key(keys, env.case_id, wrap)


def test_a_case_a_helper_wrote_opens_for_members_and_for_her(chain: Chain, council: Council) -> None:
    env = seal(chain, council, attachment_ids=[b"\x05" * 16])
    signed = open_checked_case_file(env, member_key(env, council), directory=chain.state)
    assert signed.author == "hana" and signed.listed_attachments == (b"\x05" * 16,)
    own = OwnCase(account="hana", reply_secret=HANA_SECRET)
    reply_case_key = unwrap_case_key(reply_keys(HANA_SECRET, env.case_id), env.case_id, env.reply_wrap)
    assert open_checked_case_file(env, reply_case_key, directory=chain.state, own=own).author == "hana"


@pytest.mark.parametrize(
    ("author", "who"),
    [("hana", "attacker"), ("nobody", "attacker"), ("member-1", "member"), ("mina", "hana")],
)
def test_a_case_the_directory_does_not_vouch_for_is_refused(chain: Chain, council: Council, author: str, who: str) -> None:
    keys = {"attacker": AccountKeys.generate(), "member": council.keys[1], "hana": HANA}[who]
    env = seal(chain, council, author=author, keys=keys)
    open_case_file(env, member_key(env, council))  # it opens and its own signature verifies: the old check
    with pytest.raises(ProofError, match="not written by a helper"):
        open_checked_case_file(env, member_key(env, council), directory=chain.state)


def test_a_helper_refuses_a_case_of_another_helper_or_with_other_reply_keys(chain: Chain, council: Council) -> None:
    env = seal(chain, council, author="mina", keys=MINA, reply_secret=HANA_SECRET)
    case_key = unwrap_case_key(reply_keys(HANA_SECRET, env.case_id), env.case_id, env.reply_wrap)
    with pytest.raises(ProofError, match="not one you wrote"):
        open_checked_case_file(env, case_key, directory=chain.state, own=OwnCase(account="hana", reply_secret=HANA_SECRET))
    mine = seal(chain, council)
    case_key = member_key(mine, council)
    with pytest.raises(ProofError, match="reply keys"):
        open_checked_case_file(mine, case_key, directory=chain.state, own=OwnCase(account="hana", reply_secret=MINA_SECRET))


def test_a_head_off_the_readers_chain_is_a_fork(chain: Chain, council: Council) -> None:
    env = seal(chain, council, head_hash=b"\x09" * 32)
    with pytest.raises(DirectoryError, match="forked"):
        open_checked_case_file(env, member_key(env, council), directory=chain.state)
    env = seal(chain, council, head_seq=chain.state.seq + 1)
    with pytest.raises(DirectoryError, match="hiding entries"):
        open_checked_case_file(env, member_key(env, council), directory=chain.state)


def test_a_case_written_before_its_author_rotated_keys_still_opens(council: Council) -> None:
    chain = Chain()
    admin, old, new = AccountKeys.generate(), AccountKeys.generate(), AccountKeys.generate()
    chain.add("admin1", "admin", admin, chain.server)
    for i, keys in council.keys.items():
        chain.add(f"member-{i}", "council", keys, admin)
    chain.add("hana", "helper", old, admin)
    env = seal(chain, council, keys=old)
    chain.append("account-rotated", payload_for("account-rotated", account="hana", keys=new.public()), [old, new])
    assert open_checked_case_file(env, member_key(env, council), directory=chain.state).author == "hana"


def test_a_version_2_case_file_is_still_read(chain: Chain, council: Council) -> None:
    env = seal(chain, council)
    case_key = member_key(env, council)
    current = open_case_file(env, case_key)
    assert isinstance(current, SignedCaseFile)
    fields_v2 = {k: v for k, v in vars_of(current).items() if k != "attachments"}
    legacy = LegacyCaseFile(**{**fields_v2, "v": 2, "signature": bytes(64)})
    legacy = replace(legacy, signature=HANA.sign(TAG_INTAKE_SIG, signing_bytes(legacy)))
    sealed = aead.seal_padded(case_key, encode_json(legacy), kdf32(TAG_AD_CASE_FILE, env.case_id))
    old = replace(env, case_file=sealed)
    opened = open_checked_case_file(old, case_key, directory=chain.state)
    assert isinstance(opened, LegacyCaseFile) and opened.listed_attachments is None
    version_1 = aead.seal_padded(case_key, encode_json(legacy).replace(b'"v":2', b'"v":1'), kdf32(TAG_AD_CASE_FILE, env.case_id))
    with pytest.raises(DecryptionError, match="version"):
        open_case_file(replace(env, case_file=version_1), case_key)
    assert "attachments" in to_wire(current)


def vars_of(signed: SignedCaseFile) -> dict[str, object]:
    return {f.name: getattr(signed, f.name) for f in fields(signed)}
