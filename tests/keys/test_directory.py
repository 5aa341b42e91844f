from dataclasses import replace

import pytest

from keys.accounts import AccountKeys
from keys.checkpoints import sign_checkpoint, verify_checkpoint
from keys.council import EpochRecord, EpochSignature
from keys.directory import (
    DirectoryEntry,
    DirectoryState,
    add_signature,
    apply_entries,
    apply_entry,
    make_entry,
    payload_for,
    replay_to_pin,
)
from keys.encoding import canonical_json, lp
from keys.errors import DirectoryError
from keys.hashing import TAG_LOG_SIG
from keys.invites import SERVER_ISSUER, sign_grant
from keys.tokens import generate_token_key
from keys.wire import decode_json, encode_json
from tests.support.council import Council, run_dkg

DAY = 20_000


class Chain:
    """Builds a directory the way the server and clients will: one signed entry after another."""

    def __init__(self) -> None:
        self.entries: list[DirectoryEntry] = []
        self.state = DirectoryState()
        self.server = AccountKeys.generate()
        self.append("server-key", payload_for("server-key", server_key=self.server.public().sign_key), [self.server])

    def append(self, kind: str, payload: dict, signers: list[AccountKeys]) -> DirectoryEntry:  # type: ignore[type-arg]
        entry = make_entry(seq=self.state.seq + 1, prev=self.state.head, kind=kind, payload=payload, day=DAY, signers=signers)
        self.state = apply_entry(self.state, entry)
        self.entries.append(entry)
        return entry

    def next_entry(self, kind: str, payload: dict, signers: list[AccountKeys]) -> DirectoryEntry:  # type: ignore[type-arg]
        return make_entry(seq=self.state.seq + 1, prev=self.state.head, kind=kind, payload=payload, day=DAY, signers=signers)

    def add(self, name: str, role: str, keys: AccountKeys, by: AccountKeys) -> None:
        self.append("account-added", self.joining(name, role, keys, by), [keys])

    def joining(self, name: str, role: str, keys: AccountKeys, by: AccountKeys) -> dict:  # type: ignore[type-arg]
        issuer = SERVER_ISSUER if by is self.server else self.name_of(by)
        grant = sign_grant(invite_id=bytes(16), account=name, role=role, expires_day=DAY + 7, issuer=issuer, keys=by)
        return payload_for("account-added", account=name, role=role, keys=keys.public(), grant=grant)

    def name_of(self, keys: AccountKeys) -> str:
        found = self.state.account_by_sign_key(keys.public().sign_key)
        return found.account if found else "nobody"


def council_chain(council: Council) -> tuple[Chain, AccountKeys]:
    chain = Chain()
    admin = AccountKeys.generate()
    chain.add("admin1", "admin", admin, chain.server)
    for i, keys in council.keys.items():
        chain.add(f"member-{i}", "council", keys, admin)
    chain.append("council-epoch", payload_for("council-epoch", record=council.record), list(council.keys.values()))
    return chain, admin


def test_a_full_chain_replays_and_names_the_council(council: Council) -> None:
    chain, _ = council_chain(council)
    state = replay_to_pin(chain.entries, pinned_seq=0, pinned_head=chain.entries[0].hash())
    assert state.council == council.record and state.head == chain.state.head
    assert {a.role for a in state.accounts.values()} == {"admin", "council"}
    assert decode_json(DirectoryEntry, encode_json(chain.entries[3])) == chain.entries[3]


def test_server_alone_cannot_add_a_second_admin_or_any_account() -> None:
    chain = Chain()
    first = AccountKeys.generate()
    chain.add("admin1", "admin", first, chain.server)
    second = AccountKeys.generate()
    with pytest.raises(DirectoryError, match="not invited by an active administrator"):
        chain.add("admin-2", "admin", second, chain.server)
    helper = AccountKeys.generate()
    with pytest.raises(DirectoryError, match="no proof of possession"):
        chain.append("account-added", chain.joining("h", "helper", helper, first), [first])
    with pytest.raises(DirectoryError, match="another account or role"):
        chain.append("account-added", {**chain.joining("h", "helper", helper, first), "role": "admin"}, [helper])
    stranger = AccountKeys.generate()
    with pytest.raises(DirectoryError, match="not invited by an active administrator"):
        chain.append("account-added", chain.joining("h", "helper", helper, stranger), [helper])
    forged = chain.joining("h", "helper", helper, first)
    forged["grant"]["expires_day"] += 100
    with pytest.raises(DirectoryError, match="not signed by its issuer"):
        chain.append("account-added", forged, [helper])


def renamed(record: EpochRecord, prefix: str) -> EpochRecord:
    """The same record with member accounts named `prefix-i` (as the chain registered them)."""
    fields = {f: getattr(record, f) for f in ("v", "epoch", "threshold", "council_key", "commitments", "origin")}
    return EpochRecord(**fields, members=tuple(replace(m, account=f"{prefix}-{m.index}") for m in record.members))


def register(chain: Chain, council: Council, prefix: str, admin: AccountKeys) -> EpochRecord:
    for i, keys in council.keys.items():
        chain.add(f"{prefix}-{i}", "council", keys, admin)
    return renamed(council.record, prefix)


def test_an_admin_alone_cannot_add_readers(council: Council) -> None:
    chain, admin = council_chain(council)
    intruders = run_dkg(3, 4, epoch=2)  # a council the admin made up: every member signs, the old council does not
    record = register(chain, intruders, "intruder", admin)
    entry = chain.next_entry("council-epoch", payload_for("council-epoch", record=record), [admin, *intruders.keys.values()])
    with pytest.raises(DirectoryError, match="0 current member"):
        apply_entry(chain.state, entry)


def test_council_change_needs_k_signatures_of_the_current_council(council: Council) -> None:
    chain, admin = council_chain(council)
    new = run_dkg(3, 4, epoch=2)
    record = register(chain, new, "new", admin)
    payload = payload_for("council-epoch", record=record)
    entry = chain.next_entry("council-epoch", payload, [*new.keys.values(), council.keys[1], council.keys[2]])
    with pytest.raises(DirectoryError, match="2 current member"):
        apply_entry(chain.state, entry)
    entry = add_signature(entry, council.keys[5])
    state = apply_entry(chain.state, entry)
    assert state.council == record
    # Every new member must sign too.
    partial = chain.next_entry("council-epoch", payload, [*list(new.keys.values())[1:], *council.keys.values()])
    with pytest.raises(DirectoryError, match="did not sign"):
        apply_entry(chain.state, partial)


def test_forged_rewritten_and_reordered_entries_are_detected(council: Council) -> None:
    chain, _ = council_chain(council)
    entries = chain.entries
    forged = replace(entries[2], payload=entries[2].payload.replace(b"council", b"admin"))
    with pytest.raises(DirectoryError, match="signature does not verify"):
        apply_entries(DirectoryState(), [*entries[:2], forged])
    with pytest.raises(DirectoryError, match="out of order"):
        apply_entries(DirectoryState(), [entries[0], entries[2]])
    rewritten = replace(entries[1], prev=bytes(32))
    with pytest.raises(DirectoryError, match="does not chain"):
        apply_entries(DirectoryState(), [entries[0], rewritten])


def test_pinned_head_detects_forks_and_rollbacks(council: Council) -> None:
    chain, _ = council_chain(council)
    pin_seq, pin_head = 3, chain.entries[3].hash()
    replay_to_pin(chain.entries, pinned_seq=pin_seq, pinned_head=pin_head)
    with pytest.raises(DirectoryError, match="rolled back"):
        replay_to_pin(chain.entries[:3], pinned_seq=pin_seq, pinned_head=pin_head)
    other, _ = council_chain(council)  # a parallel history the server could show instead
    with pytest.raises(DirectoryError, match="forked"):
        replay_to_pin(other.entries, pinned_seq=0, pinned_head=chain.entries[0].hash())


def test_rotation_and_revocation_rules() -> None:
    chain = Chain()
    admin = AccountKeys.generate()
    chain.add("admin1", "admin", admin, chain.server)
    helper, new_helper = AccountKeys.generate(), AccountKeys.generate()
    chain.add("helper-1", "helper", helper, admin)
    payload = payload_for("account-rotated", account="helper-1", keys=new_helper.public())
    with pytest.raises(DirectoryError, match="old and the new key"):
        apply_entry(chain.state, chain.next_entry("account-rotated", payload, [new_helper]))
    chain.append("account-rotated", payload, [helper, new_helper])
    assert chain.state.accounts["helper-1"].keys == new_helper.public()
    stranger = AccountKeys.generate()
    with pytest.raises(DirectoryError, match="not signed by an administrator"):
        apply_entry(
            chain.state, chain.next_entry("account-revoked", payload_for("account-revoked", account="helper-1"), [stranger])
        )
    chain.append("account-revoked", payload_for("account-revoked", account="helper-1"), [admin])
    assert chain.state.active("helper-1") is None
    with pytest.raises(DirectoryError, match="unknown or revoked"):
        apply_entry(chain.state, chain.next_entry("account-rotated", payload, [new_helper]))


def test_checkpoints_verify_across_a_server_key_rotation() -> None:
    chain = Chain()
    old_server = chain.server
    heads = {0: chain.state.head}
    old_checkpoint = sign_checkpoint(0, chain.state.head, DAY, old_server)
    new_server = AccountKeys.generate()
    with pytest.raises(DirectoryError, match="previous server key"):
        apply_entry(
            chain.state,
            chain.next_entry("server-key", payload_for("server-key", server_key=new_server.public().sign_key), [new_server]),
        )
    chain.append("server-key", payload_for("server-key", server_key=new_server.public().sign_key), [old_server, new_server])
    heads[1] = chain.state.head
    verify_checkpoint(old_checkpoint, chain.state, heads)
    verify_checkpoint(sign_checkpoint(1, heads[1], DAY, new_server), chain.state, heads)
    with pytest.raises(DirectoryError, match="not signed by the server key"):
        verify_checkpoint(sign_checkpoint(1, heads[1], DAY, old_server), chain.state, heads)
    with pytest.raises(DirectoryError, match="head this chain does not have"):
        verify_checkpoint(sign_checkpoint(1, bytes(32), DAY, new_server), chain.state, heads)


def test_malformed_payloads_are_directory_errors() -> None:
    chain = Chain()
    with pytest.raises(DirectoryError, match="malformed"):
        chain.append("account-added", {"account": "x", "role": "admin", "sign_key": "!!", "box_key": "AA"}, [chain.server])
    with pytest.raises(DirectoryError, match="malformed"):
        chain.append("account-added", {"account": "Not A Name", "role": "admin"}, [chain.server])
    with pytest.raises(DirectoryError, match="unknown role"):
        chain.append("account-added", {"account": "x", "role": "root"}, [chain.server])


def test_heads_of_every_entry_are_kept_and_cross_checked() -> None:
    chain = Chain()
    admin = AccountKeys.generate()
    chain.add("admin", "admin", admin, chain.server)
    base = chain.state
    assert [base.head_at(i) for i in range(2)] == [e.hash() for e in chain.entries]
    assert base.head_at(2) is None
    base.check_head(0, chain.entries[0].hash(), who="a helper")
    with pytest.raises(DirectoryError, match="forked"):
        base.check_head(0, bytes(32), who="a helper")
    with pytest.raises(DirectoryError, match="hiding entries"):
        base.check_head(2, bytes(32), who="a helper")
    # two different extensions of one state keep their own heads (a candidate entry the server tried)
    kim, lee = AccountKeys.generate(), AccountKeys.generate()
    one = apply_entry(base, chain.next_entry("account-added", chain.joining("kim", "council", kim, admin), [kim]))
    two = apply_entry(base, chain.next_entry("account-added", chain.joining("lee", "council", lee, admin), [lee]))
    assert one.head != two.head
    assert (one.head_at(2), two.head_at(2), base.head_at(2)) == (one.head, two.head, None)
    assert one.head_at(1) == two.head_at(1) == base.head


def test_genuine_entries_cannot_be_re_chained_after_one_is_dropped(council: Council) -> None:
    """Issue 25 item 1: signatures cover the position, so dropping an entry breaks every later one."""
    chain, admin = council_chain(council)
    helper = AccountKeys.generate()
    chain.add("helper-1", "helper", helper, admin)
    kept = [*chain.entries[:2], *chain.entries[3:]]  # member-1's entry dropped
    moved = []
    prev = kept[0].prev
    for seq, entry in enumerate(kept):
        moved.append(replace(entry, seq=seq, prev=prev))
        prev = moved[-1].hash()
    with pytest.raises(DirectoryError, match="signature does not verify"):
        apply_entries(DirectoryState(), moved)
    # the signed position is part of what a signer signs: the same signature at another position fails
    entry = chain.entries[3]
    assert entry.signed_message() != replace(entry, seq=entry.seq + 1).signed_message()
    assert entry.signed_message() != replace(entry, prev=bytes(32)).signed_message()


def test_old_format_entries_are_read_only_before_the_new_format() -> None:
    server = AccountKeys.generate()
    payload = payload_for("server-key", server_key=server.public().sign_key)
    legacy_message = lp(b"server-key") + canonical_json(payload)
    legacy = DirectoryEntry(
        v=1,
        seq=0,
        prev=bytes(32),
        kind="server-key",
        payload=canonical_json(payload),
        day=DAY,
        signatures=(EpochSignature(signer=server.public().sign_key, signature=server.sign(TAG_LOG_SIG, legacy_message)),),
    )
    state = apply_entry(DirectoryState(), legacy)
    assert not state.positional
    admin = AccountKeys.generate()
    grant = sign_grant(invite_id=bytes(16), account="admin1", role="admin", expires_day=DAY, issuer=SERVER_ISSUER, keys=server)
    added = make_entry(
        seq=1,
        prev=state.head,
        kind="account-added",
        payload=payload_for("account-added", account="admin1", role="admin", keys=admin.public(), grant=grant),
        day=DAY,
        signers=[admin],
    )
    state = apply_entry(state, added)
    assert state.positional
    late = replace(legacy, seq=2, prev=state.head)
    with pytest.raises(DirectoryError, match="old format after a new one"):
        apply_entry(state, late)


def test_token_keys_are_published_by_the_server_key_once_per_epoch() -> None:
    """Issue 24: the key a helper's tokens are issued under is the one the signed directory names for the epoch,
    so a server that tags helpers with keys of their own is caught (keys/tokens.py check_issue_response)."""
    chain = Chain()
    first = generate_token_key(2900).public
    chain.append("token-key", payload_for("token-key", token_key=first), [chain.server])
    assert chain.state.token_key(2900) == first and chain.state.token_key(2901) is None
    stranger = AccountKeys.generate()
    second = generate_token_key(2901).public
    with pytest.raises(DirectoryError, match="signed by the current server key"):
        chain.append("token-key", payload_for("token-key", token_key=second), [stranger])
    with pytest.raises(DirectoryError, match="does not follow"):
        chain.append("token-key", payload_for("token-key", token_key=generate_token_key(2900).public), [chain.server])
    chain.append("token-key", payload_for("token-key", token_key=second), [chain.server])
    assert chain.state.token_key(2901) == second and chain.state.token_key(2900) == first


def test_an_entrys_day_is_signed_and_days_never_go_back() -> None:
    """The witnesses' rule takes a council's age from its entry's day, so the server must not be able to choose it."""
    chain = Chain()
    admin = AccountKeys.generate()
    entry = chain.next_entry("account-added", chain.joining("admin1", "admin", admin, chain.server), [admin])
    with pytest.raises(DirectoryError, match="signature does not verify"):
        apply_entry(chain.state, replace(entry, day=entry.day + 3650))
    state = apply_entry(chain.state, entry)
    assert state.day == DAY
    helper = AccountKeys.generate()
    earlier = make_entry(
        seq=state.seq + 1,
        prev=state.head,
        kind="account-added",
        payload=payload_for(
            "account-added",
            account="helper-1",
            role="helper",
            keys=helper.public(),
            grant=sign_grant(
                invite_id=bytes(16), account="helper-1", role="helper", expires_day=DAY + 7, issuer="admin1", keys=admin
            ),
        ),
        day=DAY - 1,
        signers=[helper],
    )
    with pytest.raises(DirectoryError, match="before the entry it follows"):
        apply_entry(state, earlier)
