"""bench/report.py still measures what it says (issue 23): its synthetic council reads every case it seals through
the real checked opener. Not timed here (the figure is the bench's); this keeps the bench from rotting unseen, as
it did once when proposals and votes began to carry the directory head (the bench then failed to start)."""

from __future__ import annotations

import asyncio

from bench.report import build, timed_report


def test_the_report_bench_reads_every_case_it_seals() -> None:
    server, home, state = build(12)
    result = asyncio.run(timed_report(server, home, state))  # asserts every case was read, none unreadable
    assert set(result) >= {"read", "compute", "render", "charts_html", "total"}
