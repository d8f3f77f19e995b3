"""Exactly once across processes: SIGKILL in the middle of the fan-out, and two runs at the same time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from flow_cases import PROVIDERS, ROOT, emulator_voices

from flows import ledger
from flows.ledger.schema import clone_attempts
from flows.pipeline.flow import clone_voices
from flows.pipeline.options import RunOptions
from providers.emulator import control

LISTABLE = [p for p in PROVIDERS if p != "callers"]


def _start_run(env: dict[str, str], prefect_api: str, inbox: Path, log: Path) -> subprocess.Popen:
    child_env = {**os.environ, **env, "PREFECT_API_URL": prefect_api}
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", str(inbox), "--providers", "all", "--no-report"],
        env=child_env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill takes the worker pool with it
    )


def _wait_for(condition, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"run ended early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def test_sigkill_mid_fan_out_then_rerun_creates_nothing_twice(
    prefect_api, env, inbox: Path, emulator, tmp_path: Path
) -> None:
    url = emulator.url
    # Slow every answer down so the kill lands inside the fan-out: one provider answers first and
    # the others 2 s later, so some intent is still pending when the first voice appears.
    for provider in PROVIDERS:
        delay = 2.0 if provider == PROVIDERS[0] else 4.0
        control.inject(url, provider, "delay", count=-1, delay_s=delay)
    log = tmp_path / "run1.log"
    proc = _start_run(env, prefect_api, inbox, log)
    _wait_for(lambda: sum(map(len, emulator_voices(url).values())) >= 1, 240, proc, log)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    control.clear_faults(url)
    time.sleep(4.5)  # let requests already inside the emulator finish creating their voices

    with ledger.engine().connect() as c:
        statuses = [r.status for r in c.execute(sa.select(clone_attempts.c.status))]
    assert "pending" in statuses, "the kill should leave at least one intent pending"

    state = clone_voices(
        inbox=str(inbox), providers=PROVIDERS, options=RunOptions(workers=2), return_state=True
    )
    run = state.result(raise_on_failure=False)  # Failed when Callers is held; still a summary
    results = {r["provider"]: r["status"] for r in run["results"]}
    voices = emulator_voices(url)
    for provider in LISTABLE:
        assert len(voices.get(provider, [])) == 1, (provider, results, voices.get(provider))
        assert results[provider] in ("created", "reconciled", "exists")
    # The intent the kill left pending was settled by asking the provider, not by sending again.
    assert "reconciled" in results.values() or results["callers"] == "held", results
    # Callers cannot be asked: a request that may have gone out is held, never sent twice.
    assert len(voices.get("callers", [])) <= 1
    assert results["callers"] in ("created", "exists", "held")


def test_two_runs_at_the_same_time_create_each_voice_once(
    prefect_api, env, inbox: Path, emulator, tmp_path: Path
) -> None:
    url = emulator.url
    for provider in PROVIDERS:
        control.inject(url, provider, "delay", count=-1, delay_s=0.5)
    procs = [_start_run(env, prefect_api, inbox, tmp_path / f"run{i}.log") for i in range(2)]
    for i, proc in enumerate(procs):
        assert proc.wait(300) in (0, 1), (tmp_path / f"run{i}.log").read_text()[-3000:]
    voices = emulator_voices(url)
    assert {p: len(voices.get(p, [])) for p in PROVIDERS} == {p: 1 for p in PROVIDERS}
    with ledger.engine().connect() as c:
        rows = c.execute(sa.select(clone_attempts.c.provider, clone_attempts.c.status)).all()
    assert sorted(rows) == sorted((p, "succeeded") for p in PROVIDERS)
