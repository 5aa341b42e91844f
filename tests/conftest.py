"""For the whole test suite: keystores at the cheapest Argon2id cost, injected (there is no environment switch).
Tests that start the `tessera` command as its own process run `tests.fastcli` (the same, in that process).

The tests read the command's English: `tessera` speaks the system locale's language (LANGUAGE first), so the
suite asks for English, in this process and every process it starts, whatever the machine's locale (a CI
machine with LANG=ko_KR.UTF-8). Tests of the other languages set the locale or `--lang` themselves."""

from __future__ import annotations

import os

from client.home import KdfPolicy, use_kdf_policy

use_kdf_policy(KdfPolicy.insecure_fast())
os.environ["LANGUAGE"] = "en"
