"""Private files on disk, for the client and the server alike: written atomically (temporary file, fsync, rename,
fsync of the directory) with mode 0600, so a crash leaves the old file or the new one, never a mix.

This is the file I/O that used to live in `keys/keystore.py`; `keys/` stays pure (bytes in, bytes out)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_private_file"]


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, mode 0600, durable once this returns."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
