"""Prometheus metrics (prometheus-client): requests and their latency per route template and status, this
process's resident memory and CPU time, and SQLite's group commits. Labels are route templates, never ids,
so no case id or account leaks here.

They are never answered on the API's port. `tessera-server run` with `metrics = "HOST:PORT"` serves them on
a listener of their own, from the supervising process (server/main.py), which the reverse proxy and Tor
never forward. Its server processes write their values to files in a private directory
(prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR, set before they start), and that
listener adds them up: with `--workers N` the figures are the sum over the processes, not one process's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector

from server.storage.db import Database

SAMPLE_INTERVAL = 5.0  # seconds between samples of the process's memory and CPU, and of SQLite's counters
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


@dataclass
class Metrics:
    """One server process's metrics, in a registry of their own (so a test may build many apps)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("tessera_requests", "Requests by route template and status.", ["route", "status"], registry=r)
        self.latency = Histogram(
            "tessera_request_seconds", "Time to answer, by route template.", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.rss = Gauge(
            "tessera_process_resident_memory_bytes", "Resident memory of the server processes.", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.cpu = Counter("tessera_process_cpu_seconds", "CPU time of the server processes (user and system).", registry=r)
        self.commits = Counter("tessera_sqlite_commits", "Group commits (one fsync each).", registry=r)
        self.committed_writes = Counter("tessera_sqlite_committed_writes", "Write blocks committed in them.", registry=r)
        self.checkpoints = Counter("tessera_sqlite_checkpoints", "WAL checkpoints run beside the writers.", registry=r)
        self.wal_restarts = Counter(
            "tessera_sqlite_wal_restarts", "Times the WAL was made to start again from its beginning.", registry=r
        )
        self.checkpoint_failures = Counter(
            "tessera_sqlite_checkpoint_failures", "Checkpoints that failed (the server log says why).", registry=r
        )
        self._process = ProcessCollector(registry=None)
        self._seen: dict[str, float] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def sample(self, db: Database) -> None:
        """Record this process's memory and CPU, and what SQLite's writer counted since the last sample."""
        process = {s.name: s.value for family in self._process.collect() for s in family.samples}
        if "process_resident_memory_bytes" in process:
            self.rss.set(process["process_resident_memory_bytes"])
        self._advance(self.cpu, "cpu", process.get("process_cpu_seconds_total", 0.0))
        if db.is_sqlite:
            self._advance(self.commits, "commits", db.commits)
            self._advance(self.committed_writes, "committed_writes", db.committed_writes)
            if db.checkpointer is not None:
                self._advance(self.checkpoints, "checkpoints", db.checkpointer.checkpoints)
                self._advance(self.wal_restarts, "wal_restarts", db.checkpointer.restarts)
                self._advance(self.checkpoint_failures, "checkpoint_failures", db.checkpointer.failures)

    def _advance(self, counter: Counter, name: str, total: float) -> None:
        delta = total - self._seen.get(name, 0.0)
        if delta > 0:
            counter.inc(delta)
            self._seen[name] = total

    def render(self) -> bytes:
        """This process's metrics in the Prometheus text format (tests; the listener renders `collected`)."""
        return generate_latest(self.registry)


def collected(directory: str) -> CollectorRegistry:
    """A registry that adds up what every server process wrote to `directory` (multiprocess mode)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry
