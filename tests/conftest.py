"""The two test tiers, and what every test process shares.

A test is `integration` when it says so: `pytestmark = pytest.mark.integration` in its module or
`@pytest.mark.integration` on itself, nothing else. `make test-fast` leaves those out. A test that
starts a real Prefect server without the mark is refused at collection: the fast tier cannot
grow a server by accident.
"""

from __future__ import annotations

import os

import pytest

SERVERS = ("prefect_api", "prefect_server", "prefect_server_pg")  # fixtures that start one

if os.environ.get("PYTEST_XDIST_WORKER"):
    # A worker per core already: BLAS threads of their own made two workers' matrix products
    # spin against each other (a test of 1 s alone took 21 s on two cores). Set before numpy is
    # imported.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [
        f"{item.nodeid} (uses {fixture})"
        for item in items
        for fixture in SERVERS
        if fixture in getattr(item, "fixturenames", ())
        and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests start a Prefect server: mark them pytest.mark.integration\n  "
            + "\n  ".join(unmarked)
        )
