"""The Dask task-runner option: the same flow, with tasks in Dask worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_cases import emulator_voices

from flows.pipeline.flow import clone_voices
from flows.pipeline.options import RunOptions

pytestmark = pytest.mark.integration  # a real Prefect server and a Dask cluster


def test_flow_runs_on_a_local_dask_cluster(prefect_api, env, inbox: Path, emulator) -> None:
    prefect_dask = pytest.importorskip("prefect_dask")
    runner = prefect_dask.DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 2, "processes": True}
    )
    run = clone_voices.with_options(task_runner=runner)(
        inbox=str(inbox),
        providers=["cartesia", "althea"],
        options=RunOptions(cpu_pool=False, report=False),
    ).to_dict()
    assert {r["provider"]: r["status"] for r in run["results"]} == {
        "althea": "created",
        "cartesia": "created",
    }
    assert all(c["status"] == "ok" for c in run["clips"])
    assert {p: len(v) for p, v in emulator_voices(emulator.url).items() if v} == {
        "althea": 1,
        "cartesia": 1,
    }
