"""Exactly once across processes: SIGKILL in the middle of the fan-out or of a clip's
preparation, and two runs at the same time."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flow_cases import CLIPS, PROVIDERS, ROOT, emulator_voices

from flows import ledger
from flows.ledger.schema import clone_attempts, prepared
from flows.pipeline.flow import clone_voices
from flows.pipeline.options import RunOptions
from providers.emulator import control

pytestmark = pytest.mark.integration  # real Prefect server, `voxclone run` processes

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
    run = state.result(raise_on_failure=False).to_dict()  # Failed when Callers is held
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
    with ledger.engine().connect() as c:
        rows = c.execute(sa.select(clone_attempts.c.provider, clone_attempts.c.status)).all()
        sent = c.execute(sa.select(clone_attempts.c.provider, clone_attempts.c.take_hashes)).all()
    logs = "\n".join((tmp_path / f"run{i}.log").read_text()[-4000:] for i in range(2))
    counts = {p: len(voices.get(p, [])) for p in PROVIDERS}
    assert counts == {p: 1 for p in PROVIDERS}, f"{sent}\n{logs}"
    assert sorted(rows) == sorted((p, "succeeded") for p in PROVIDERS)


def test_a_worker_killed_mid_prepare_holds_the_voice_until_a_rerun(
    prefect_api, env, inbox: Path, emulator
) -> None:
    """A clip lost to a dead worker (the OOM killer, say) is no reason to clone the voice from
    the clips that are left: that voice would stand, and be answered from the ledger, forever."""
    killed: list[int] = []

    def kill_a_worker_once_a_clip_is_recorded() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with ledger.engine().connect() as c:
                if c.execute(sa.select(sa.func.count()).select_from(prepared)).scalar():
                    break
            time.sleep(0.01)
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
            killed.append(child.pid)
            return

    threading.Thread(target=kill_a_worker_once_a_clip_is_recorded, daemon=True).start()
    options = RunOptions(workers=2)
    state = clone_voices(inbox=str(inbox), providers=PROVIDERS, options=options, return_state=True)
    run = state.result(raise_on_failure=False).to_dict()  # a Failed run still carries it

    assert killed and state.is_failed()
    crashed = [c for c in run["clips"] if c["status"] == "crashed"]
    assert crashed and all("worker process preparing it died" in c["error"] for c in crashed)
    assert any(c["status"] == "ok" for c in run["clips"])  # enough for a take of some kind
    assert {c["status"] for c in run["clips"]} == {"ok", "crashed"}
    assert emulator_voices(emulator.url) == {}
    for r in run["results"]:
        assert r["status"] == "failed" and "did not finish preparing" in r["error"], r
        assert all(c["clip"] in r["error"] for c in crashed)

    again = clone_voices(inbox=str(inbox), providers=PROVIDERS, options=options).to_dict()
    assert {r["status"] for r in again["results"]} == {"created"}
    assert {p: len(v) for p, v in emulator_voices(emulator.url).items()} == {
        p: 1 for p in PROVIDERS
    }
    assert sorted(c["clip"] for c in again["clips"] if c["status"] == "ok") == CLIPS
    elevenlabs = next(r for r in again["results"] if r["provider"] == "elevenlabs")
    assert len(elevenlabs["takes"]) == len(CLIPS)  # one file per clip: none left out
