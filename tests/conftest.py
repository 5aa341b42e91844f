"""For the whole test suite: keystores at the cheapest Argon2id cost, injected (there is no environment switch).
Tests that start the `tessera` command as its own process run `tests.fastcli` (the same, in that process)."""

from __future__ import annotations

from client.home import KdfPolicy, use_kdf_policy

use_kdf_policy(KdfPolicy.insecure_fast())
