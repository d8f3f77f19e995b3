"""A provider's cap holds in total across two processes, through Prefect global concurrency limits."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from servers import ROOT, PrefectServer

pytestmark = pytest.mark.integration

spec = importlib.util.spec_from_file_location(
    "bench_limits", ROOT / "benchmarks" / "bench_limits.py"
)
bench_limits = importlib.util.module_from_spec(spec)
sys.modules["bench_limits"] = bench_limits  # dataclasses look their module up there
spec.loader.exec_module(bench_limits)


def test_two_processes_hold_the_cap_in_total(
    prefect_server: PrefectServer, emulator_url: str
) -> None:
    measured = bench_limits.measure(
        prefect_server.api_url, emulator_url, mode="server", processes=2, tasks=4, cap=2
    )
    assert measured.requests == 8
    assert measured.max_in_flight <= 2
    assert measured.max_in_flight == 2  # the cap was used, not just respected by serialising


def test_without_the_server_limit_each_process_allows_the_cap(
    prefect_server: PrefectServer, emulator_url: str
) -> None:
    """The contrast that makes the test above mean something: per-process caps add up."""
    measured = bench_limits.measure(
        prefect_server.api_url,
        emulator_url,
        mode="process",
        processes=2,
        tasks=4,
        cap=2,
        delay_s=2.0,  # each process sends for ≥ 4 s after the barrier: they overlap even when loaded
    )
    assert measured.requests == 8
    assert measured.max_in_flight > 2
