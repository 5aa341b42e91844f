"""Issue 21: the client home unlocks once. One Argon2id derivation per unlock gives the data key; every save seals
the state again under it (fresh nonce, same salt header), without Argon2id and without keeping the passphrase.
Homes written before (a fresh salt on every save) still open; a weaker cost than the policy is raised once."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from client.home import KEYSTORE, Home, HomeError, KdfPolicy, kdf_policy
from keys.errors import KeystoreError, WrongPassphraseError
from keys.keystore import KeystorePolicy, open_keystore, seal_keystore
from privatefiles import write_private_file

PASSPHRASE = "four words for tests"
STATE = {"v": 1, "account": "hana", "role": "helper", "server": "http://127.0.0.1:9"}


def _header(path: Path) -> bytes:
    return (path / KEYSTORE).read_bytes()[:59]  # magic, version, costs, salt, aead id, nonce


def test_the_suite_runs_on_the_injected_cheap_policy_not_an_environment_variable() -> None:
    assert kdf_policy() == KdfPolicy.insecure_fast()
    assert KdfPolicy.standard().for_role("council") == KeystorePolicy.council()
    assert KdfPolicy.standard().for_role("admin") == KeystorePolicy.council()
    assert KdfPolicy.standard().for_role("helper") == KeystorePolicy.helper()


def test_one_derivation_per_unlock_and_none_per_save(tmp_path: Path, derivations: list[KeystorePolicy]) -> None:
    home = Home.create(tmp_path / "h", PASSPHRASE, dict(STATE))
    assert len(derivations) == 1
    before = _header(tmp_path / "h")
    for n in range(5):
        home.state["n"] = n
        home.save()
    assert len(derivations) == 1  # five saves, no Argon2id
    after = _header(tmp_path / "h")
    assert after[:34] == before[:34] and after[35:59] != before[35:59]  # same salt and costs, a fresh nonce
    again = Home.open(tmp_path / "h", PASSPHRASE)
    assert len(derivations) == 2 and again.state["n"] == 4
    again.state["n"] = 5
    again.save()
    assert len(derivations) == 2
    assert Home.open(tmp_path / "h", PASSPHRASE).state["n"] == 5


def test_the_passphrase_is_not_kept(tmp_path: Path) -> None:
    home = Home.create(tmp_path / "h", PASSPHRASE, dict(STATE))
    assert PASSPHRASE not in repr(home) and not hasattr(home, "passphrase")
    home.state["sign_seed"] = "a secret seed"
    assert "a secret seed" not in repr(home) and home.key is not None and home.key.key.hex() not in repr(home)
    assert all(PASSPHRASE not in repr(getattr(home, name)) for name in ("path", "key", "state"))


def test_a_wrong_passphrase_and_a_changed_file_are_refused(tmp_path: Path) -> None:
    home = Home.create(tmp_path / "h", PASSPHRASE, dict(STATE))
    home.save()
    with pytest.raises(WrongPassphraseError):
        Home.open(tmp_path / "h", "another four word phrase")
    data = bytearray((tmp_path / "h" / KEYSTORE).read_bytes())
    data[70] ^= 1
    (tmp_path / "h" / KEYSTORE).write_bytes(bytes(data))
    with pytest.raises(KeystoreError):
        Home.open(tmp_path / "h", PASSPHRASE)


def test_a_home_written_by_the_earlier_program_opens_and_is_saved_the_new_way(
    tmp_path: Path, derivations: list[KeystorePolicy]
) -> None:
    """Before: every save sealed the whole file under a fresh salt (seal_keystore). Such a file opens with one
    derivation, and the next save keeps its salt."""
    path = tmp_path / "old"
    path.mkdir()
    from keys.encoding import canonical_json

    write_private_file(path / KEYSTORE, seal_keystore(canonical_json(STATE), PASSPHRASE, KeystorePolicy.for_tests()))
    old_salt = _header(path)[18:34]
    derivations.clear()
    home = Home.open(path, PASSPHRASE)
    assert home.state == STATE and len(derivations) == 1
    home.state["seen"] = True
    home.save()
    assert len(derivations) == 1 and _header(path)[18:34] == old_salt
    assert open_keystore((path / KEYSTORE).read_bytes(), PASSPHRASE).payload == canonical_json({**STATE, "seen": True})


def test_a_weaker_cost_than_the_policy_is_raised_once_on_unlock(tmp_path: Path, derivations: list[KeystorePolicy]) -> None:
    cheap, stronger = KeystorePolicy(1, 8 * 1024), KeystorePolicy(2, 16 * 1024)
    policy = KdfPolicy(helper=cheap, council=stronger)
    Home.create(tmp_path / "h", PASSPHRASE, {**STATE, "role": "council"}, policy=KdfPolicy(cheap, cheap))
    first_salt = _header(tmp_path / "h")[18:34]
    derivations.clear()
    home = Home.open(tmp_path / "h", PASSPHRASE, policy=policy)
    assert derivations == [cheap, stronger]  # the unlock, then the new key at the council's cost
    assert open_keystore((tmp_path / "h" / KEYSTORE).read_bytes(), PASSPHRASE).policy == stronger
    assert _header(tmp_path / "h")[18:34] != first_salt and home.key is not None and home.key.policy == stronger
    derivations.clear()
    Home.open(tmp_path / "h", PASSPHRASE, policy=policy).save()
    assert derivations == [stronger]  # from now on one derivation per unlock
    Home.open(tmp_path / "h", PASSPHRASE, policy=KdfPolicy(cheap, cheap))  # a stronger file is never weakened
    assert open_keystore((tmp_path / "h" / KEYSTORE).read_bytes(), PASSPHRASE).policy == stronger


def test_a_home_without_a_key_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(HomeError, match="cannot be saved"):
        Home(tmp_path, None, dict(STATE)).save()
    assert not (tmp_path / KEYSTORE).exists()


def test_private_files_are_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    home = Home.create(tmp_path / "h", PASSPHRASE, dict(STATE))
    home.save()
    path = tmp_path / "h" / KEYSTORE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "h").iterdir()] == [KEYSTORE]  # no temporary files left behind
    write_private_file(tmp_path / "plain", b"1")
    write_private_file(tmp_path / "plain", b"2")
    assert (tmp_path / "plain").read_bytes() == b"2" and stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o600


def test_a_missing_home_says_how_to_join(tmp_path: Path) -> None:
    with pytest.raises(HomeError, match="join with"):
        Home.open(tmp_path / "nobody", PASSPHRASE)
