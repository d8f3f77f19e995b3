"""A run owns its processes: SIGKILL of `voxclone run` takes its temporary Prefect server and its
clip workers with it (issue 18: they used to run on for minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flow_cases import ROOT


def _children() -> dict[int, int]:
    """pid -> parent pid of every process on the machine (from /proc)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            out[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.integration  # `voxclone run` starts a temporary Prefect server of its own
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_a_run_leaves_no_server_and_no_worker(env, inbox: Path, tmp_path: Path) -> None:
    child_env = {k: v for k, v in {**os.environ, **env}.items() if k != "PREFECT_API_URL"}
    child_env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # a temporary server of its own
    log = tmp_path / "run.log"
    run = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", str(inbox), "--providers", "cartesia",
         "--dry-run", "--no-report"],
        env=child_env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < 3 and time.monotonic() < deadline:  # the server and two clip workers
        assert run.poll() is None, log.read_text()[-3000:]
        seen |= _descendants(run.pid)
        time.sleep(0.1)
    assert len(seen) >= 3, f"never saw the run's server and workers: {seen}"
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in seen if _alive(p)]
    for p in left:  # never leave them to the next test
        os.kill(p, signal.SIGKILL)
    assert not left, f"still running after the run was killed: {left}"
    # the server's keeper saw the run's lease go and let the next run start afresh
    assert not (tmp_path / "prefect-home" / "voxclone-server" / "server.json").exists()
