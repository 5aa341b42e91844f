"""A hostile-server test starts from one organisation, built once per session through the real CLI against an
honest server, and copied for each test: its server data directory and every person's home.

The organisation: administrator `admin`; council `kim`, `lee`, `park` (2 of 3) after their key ceremony;
helpers `hana` (one medical intake, case id `Org.case`) and `mina`. Each test then runs a `Stack` (the real
server and the relay) on its own copy, and people run the real `tessera` CLI against the relay."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.relay import Stack
from tests.support.harness import (
    Org,
    build_bare,
    build_full,
)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    bare = tmp_path_factory.mktemp("hostile-bare")
    build_bare(bare)
    full = tmp_path_factory.mktemp("hostile-full") / "org"
    shutil.copytree(bare, full)
    case, case2 = build_full(full)
    return bare, full, case, case2


@pytest.fixture
def org(templates: tuple[Path, Path, str, str], tmp_path: Path) -> Iterator[Org]:
    """The organisation after its key ceremony, with hana's cases `case` (medical, an identity photo) and
    `case2` (food)."""
    _bare, source, case, case2 = templates
    root = tmp_path / "org"
    shutil.copytree(source, root)
    with Stack(root / "server") as stack:
        yield Org(root, stack, case, case2)


@pytest.fixture
def bare_org(templates: tuple[Path, Path, str, str], tmp_path: Path) -> Iterator[Org]:
    """The organisation before any key ceremony: accounts only."""
    source = templates[0]
    root = tmp_path / "org"
    shutil.copytree(source, root)
    with Stack(root / "server") as stack:
        yield Org(root, stack, "", "")
