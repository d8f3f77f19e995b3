"""A provider's cap held across processes: two processes, each with its own client semaphore.

Each process runs a small Prefect flow whose tasks send real provider requests (faseeh's
`GET /voices` through providers.http) inside `flows.pipeline.limits.provider_slot`, while the
emulator holds every request for `--delay` seconds and counts the most it had in flight. With
`provider_limits="process"` each process allows the cap, so the total reaches processes × cap;
with "server" the Prefect global concurrency limit `provider:<name>` holds it to the cap.

Usage: python benchmarks/bench_limits.py [--processes 2] [--tasks 6] [--cap 2] [--delay 0.5]
(uses $PREFECT_API_URL when set, else starts `prefect server start` on a free port)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "sk-bench-KEY"


@dataclass
class Measured:
    mode: str
    processes: int
    cap: int
    requests: int
    max_in_flight: int
    wall_s: float


def child(provider: str, tasks: int, mode: str, barrier: str, processes: int) -> None:
    """One process: a flow whose tasks each make one request while holding a provider slot."""
    from prefect import flow, task
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    import providers
    from flows.pipeline import limits

    @task(task_run_name="request/{i}")
    def one_request(i: int) -> None:
        with providers.connect(provider) as client, limits.provider_slot(provider):
            providers.get(provider).find_by_name(client, f"bench-{i}")

    @flow(name="bench-limits", task_runner=ThreadPoolTaskRunner(max_workers=tasks))
    def hold(options: dict, tasks: int) -> None:
        # Start sending only when every process's flow is running, so their requests overlap.
        (Path(barrier) / str(os.getpid())).touch()
        deadline = time.monotonic() + 300
        while len(list(Path(barrier).iterdir())) < processes and time.monotonic() < deadline:
            time.sleep(0.05)
        for future in [one_request.submit(i) for i in range(tasks)]:
            future.result()

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        hold({"provider_limits": mode}, tasks)


def measure(
    api_url: str,
    emulator_url: str,
    *,
    mode: str,
    processes: int = 2,
    tasks: int = 6,
    cap: int = 2,
    delay_s: float = 0.5,
    provider: str = "faseeh",
) -> Measured:
    """Run `processes` children at once against the emulator; what the emulator saw."""
    from providers.emulator import control, server

    control.reset(emulator_url)
    control.inject(emulator_url, provider, "delay", delay_s=delay_s, count=processes * tasks)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXCLONE_")}
    env |= {
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        f"VOXCLONE_{provider.upper()}_CONCURRENCY": str(cap),
        f"{provider.upper()}_API_KEY": KEY,
        **server.base_urls(emulator_url),
    }
    barrier = tempfile.mkdtemp(prefix="bench-limits-")
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench_limits import child;"
        f" child({provider!r}, {tasks}, {mode!r}, {barrier!r}, {processes})"
    )
    started = time.perf_counter()
    running = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    errors = [p.communicate(timeout=600)[1] for p in running]
    wall = time.perf_counter() - started
    failed = [e[-2000:] for p, e in zip(running, errors, strict=True) if p.returncode != 0]
    if failed:
        raise RuntimeError(f"bench child failed: {failed[0]}")
    state = control.state(emulator_url)
    return Measured(
        mode,
        processes,
        cap,
        state["requests"].get(provider, 0),
        state["max_in_flight"].get(provider, 0),
        round(wall, 2),
    )


def _prefect_server(home: Path) -> tuple[str, subprocess.Popen]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    process = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "prefect"), "server", "start"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(360):
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url, process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("prefect server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=6, help="requests per process")
    parser.add_argument("--cap", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.5, help="emulator latency per request")
    args = parser.parse_args()

    from providers.emulator import server

    process = None
    api_url = os.environ.get("PREFECT_API_URL")
    with tempfile.TemporaryDirectory() as tmp, server.start() as emulator:
        if not api_url:
            api_url, process = _prefect_server(Path(tmp))
        try:
            rows = [
                measure(
                    api_url,
                    emulator.url,
                    mode=mode,
                    processes=args.processes,
                    tasks=args.tasks,
                    cap=args.cap,
                    delay_s=args.delay,
                )
                for mode in ("process", "server")
            ]
        finally:
            if process is not None:
                process.terminate()
                process.wait(30)
    print(
        f"{'limits':8} {'procs':>5} {'cap':>4} {'requests':>8} {'max in flight':>13} {'wall s':>7}"
    )
    for r in rows:
        print(
            f"{r.mode:8} {r.processes:5d} {r.cap:4d} {r.requests:8d} {r.max_in_flight:13d} {r.wall_s:7.2f}"
        )
    print(json.dumps([r.__dict__ for r in rows]))


if __name__ == "__main__":
    main()
