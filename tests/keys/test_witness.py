"""Council members as witnesses of the key directory (keys/witness.py, protocol doc §7)."""

from dataclasses import replace

import pytest

from keys.accounts import AccountKeys
from keys.errors import DirectoryError
from keys.hashing import TAG_COSIGN
from keys.wire import signing_bytes
from keys.witness import FRESHNESS, check_witnesses, cosign, witness_of
from tests.support.council import Council

from .test_directory import Chain, council_chain

NOW = 1_900_000_000 + 30 * 86_400  # the council chain's entries are dated day 20,000; this is a month later


def test_k_fresh_member_cosignatures_vouch_for_the_chain(council: Council) -> None:
    chain, _admin = council_chain(council)
    state = chain.state
    signatures = [cosign(state, council.keys[i], now=NOW - 3600) for i in (1, 2, 3)]
    assert check_witnesses(state, signatures, now=NOW) == {"member-1", "member-2", "member-3"}
    with pytest.raises(DirectoryError, match="only 2 council member"):
        check_witnesses(state, signatures[:2], now=NOW)  # k = 3


def test_stale_cosignatures_do_not_count(council: Council) -> None:
    """A server that holds a reader on an old directory can show only old cosignatures of it."""
    chain, _admin = council_chain(council)
    old = [cosign(chain.state, council.keys[i], now=NOW - FRESHNESS - 3600) for i in (1, 2, 3, 4)]
    with pytest.raises(DirectoryError, match="in the last 7 days"):
        check_witnesses(chain.state, old, now=NOW)


def test_a_cosignature_beyond_the_chain_or_on_another_history_is_an_alarm(council: Council) -> None:
    chain, admin = council_chain(council)
    earlier = chain.state
    chain.add("helper-1", "helper", AccountKeys.generate(), admin)
    later = cosign(chain.state, council.keys[1], now=NOW)
    fresh = [cosign(earlier, council.keys[i], now=NOW) for i in (2, 3, 4)]
    with pytest.raises(DirectoryError, match="hiding entries"):
        check_witnesses(earlier, [*fresh, later], now=NOW)
    forked = replace(cosign(earlier, council.keys[1], now=NOW), head=bytes(32))
    forked = replace(forked, signature=council.keys[1].sign(TAG_COSIGN, signing_bytes(forked)))
    with pytest.raises(DirectoryError, match="forked"):
        check_witnesses(earlier, [*fresh, forked], now=NOW)


def test_what_is_not_a_members_signature_is_ignored(council: Council) -> None:
    chain, admin = council_chain(council)
    state = chain.state
    good = [cosign(state, council.keys[i], now=NOW) for i in (1, 2, 3)]
    outsider = cosign(state, admin, now=NOW)
    bad_signature = replace(cosign(state, council.keys[4], now=NOW), signature=bytes(64))
    future = cosign(state, council.keys[5], now=NOW + 86_400)
    assert witness_of(state, outsider) is None and witness_of(state, bad_signature) is None
    assert check_witnesses(state, [*good, outsider, bad_signature, future], now=NOW) == {"member-1", "member-2", "member-3"}
    # a forked head under a forged signature proves nothing either
    assert witness_of(state, replace(good[0], head=bytes(32))) is None


def test_nothing_is_required_before_the_first_council_nor_while_it_is_new(council: Council) -> None:
    chain = Chain()
    assert check_witnesses(chain.state, [], now=NOW) == set()
    chain, _admin = council_chain(council)
    made = chain.state.council_day * 86_400
    assert check_witnesses(chain.state, [], now=made + FRESHNESS) == set()
    with pytest.raises(DirectoryError, match="only 0 council member"):
        check_witnesses(chain.state, [], now=made + FRESHNESS + 86_400)
