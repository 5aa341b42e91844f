"""Shared fixtures: real councils made by running the real DKG among simulated members."""

from __future__ import annotations

import pytest

from tests.support.council import Council, run_dkg


@pytest.fixture(scope="session")
def council() -> Council:
    """A 3-of-5 council."""
    return run_dkg(3, 5)


@pytest.fixture(scope="session")
def other_council() -> Council:
    """An unrelated 2-of-3 council."""
    return run_dkg(2, 3)
