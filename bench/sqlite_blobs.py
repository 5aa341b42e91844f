"""What SQLite alone does on this disk, as a ceiling for bench/attachments.py and bench/intake.py.
Run: `python -m bench.sqlite_blobs [--mib 1024]`.

- blobs: 1 MiB blobs inserted 8 to a transaction (an attachment part), WAL, synchronous=FULL, for several
  page sizes, with SQLite's own checkpoints and with a background thread running PASSIVE checkpoints
  (the writer checkpoints only past 256 MiB of WAL), and in a rollback-journal database (TRUNCATE), where
  pages appended to the file are written once instead of twice;
- commits: one small row per transaction (an intake's size), synchronous=FULL against NORMAL (the fsync);
- files: the same amount written in 1 MiB writes into a new file, and again over that same file, with the
  system CPU time each took. Storing data takes new page-cache pages, and SQLite's database file grows into
  new pages with every attachment (bench/attachments.py's reference rewrites one file); on the virtual
  machines here (memory reclaimed by DAMON) new pages cost several times what rewritten ones do.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

MIB = 1 << 20


def _connect(path: Path, page_size: int, journal: str = "WAL") -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA page_size={page_size}")
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute("PRAGMA synchronous=FULL")
    return db


def blobs(path: Path, mib: int, page_size: int, *, background: bool = False, journal: str = "WAL") -> float:
    """MiB/s for `mib` 1 MiB blobs, 8 per fsync'd transaction."""
    db = _connect(path, page_size, journal)
    if background:
        db.execute(f"PRAGMA wal_autocheckpoint={256 * MIB // page_size}")
    db.execute("CREATE TABLE c (a BLOB, s INTEGER, d BLOB, PRIMARY KEY (a, s))")
    stop = threading.Event()

    def checkpoints() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        while not stop.wait(0.2):
            other.execute("PRAGMA wal_checkpoint(PASSIVE)")
        other.close()

    worker = threading.Thread(target=checkpoints, daemon=True)
    if background:
        worker.start()
    blob = os.urandom(MIB)
    start = time.perf_counter()
    for part in range(mib // 8):
        db.execute("BEGIN")
        db.executemany("INSERT INTO c VALUES (?, ?, ?)", [(b"x" * 16, part * 8 + i, blob) for i in range(8)])
        db.execute("COMMIT")
    seconds = time.perf_counter() - start
    stop.set()
    if background:
        worker.join()
    db.close()
    return mib / seconds


def commits(path: Path, synchronous: str, count: int = 2000) -> float:
    """Milliseconds per transaction of one 3 KB row."""
    db = _connect(path, 16384)
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE c (a BLOB PRIMARY KEY, d BLOB)")
    start = time.perf_counter()
    for _ in range(count):
        db.execute("BEGIN")
        db.execute("INSERT INTO c VALUES (?, ?)", (os.urandom(16), os.urandom(3000)))
        db.execute("COMMIT")
    db.close()
    return (time.perf_counter() - start) / count * 1000


def file_write(path: Path, mib: int) -> tuple[float, float]:
    """(MiB/s, system CPU seconds) for `mib` 1 MiB writes into `path` (created or truncated), then fsync."""
    block = os.urandom(MIB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    start = time.perf_counter()
    with path.open("wb") as handle:
        for _ in range(mib):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - start
    return mib / seconds, resource.getrusage(resource.RUSAGE_SELF).ru_stime - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="blob data per run in MiB (default 1024)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tessera-sqlite-", dir=os.environ.get("BENCH_TMP")) as tmp:
        run = 0

        def fresh() -> Path:
            nonlocal run
            run += 1
            return Path(tmp) / f"run{run}.db"

        print(f"1 MiB blobs, 8 per transaction, {args.mib} MiB, WAL, synchronous=FULL:")
        for page_size in (4096, 16384, 65536):
            own = blobs(fresh(), args.mib, page_size, background=False)
            background = blobs(fresh(), args.mib, page_size, background=True)
            print(f"  page size {page_size:>6}: {own:6.1f} MiB/s; with background checkpoints {background:6.1f} MiB/s")
        # a rollback journal keeps only the old content of pages a transaction changes: pages appended to the
        # file are written once, where WAL writes every page twice (the WAL, then the checkpoint's copy)
        print("the same with a rollback journal (journal_mode=TRUNCATE) instead of WAL:")
        for page_size in (16384, 65536):
            print(f"  page size {page_size:>6}: {blobs(fresh(), args.mib, page_size, journal='TRUNCATE'):6.1f} MiB/s")
        print("one small row per transaction (page size 16384):")
        for synchronous in ("FULL", "NORMAL"):
            print(f"  synchronous={synchronous:<6}: {commits(fresh(), synchronous):.3f} ms per commit")
        print(f"{args.mib} MiB in 1 MiB writes and one fsync:")
        for round_no in range(2):
            new = Path(tmp) / f"new{round_no}.bin"
            speed, system = file_write(new, args.mib)
            again, again_system = file_write(new, args.mib)  # truncated, then written over the freed pages
            print(
                f"  into a new file {speed:6.1f} MiB/s ({system:.2f} s system CPU); "
                f"over the same file again {again:6.1f} MiB/s ({again_system:.2f} s)"
            )


if __name__ == "__main__":
    main()
