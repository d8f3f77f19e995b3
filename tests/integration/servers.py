"""Start and talk to real Prefect servers; shared by the integration tests (not a conftest so imports are unambiguous)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from providers.emulator import server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "sk-test-SECRET-123"
PROVIDERS = ["anam", "althea", "faseeh", "callers", "elevenlabs", "cartesia"]
CLIPS = ["3080-5032-0002.flac", "3080-5032-0006.flac", "3080-5032-0007.flac", "3080-5032-0009.flac"]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def api(method: str, url: str, **kwargs) -> httpx.Response:
    """One API call, retried on 429 and 503 as Prefect's own client retries them: a server whose
    SQLite database is busy answers 503, and the request may simply be sent again."""
    for attempt in range(5):
        response = httpx.request(method, url, timeout=10, **kwargs)
        if response.status_code not in (429, 503):
            return response
        time.sleep(0.5 * 2**attempt)
    return httpx.request(method, url, timeout=10, **kwargs)


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    process: subprocess.Popen

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_prefect_server(home: Path, extra_env: dict[str, str] | None = None) -> PrefectServer:
    """`prefect server start` on a free port; returns once /api/health answers."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",  # else the UI calls port 4200
        **(extra_env or {}),
    }
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited {process.returncode}: {home / 'server.log'}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return PrefectServer(api_url, home, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(process)
    raise RuntimeError(f"prefect server did not become healthy in 180 s: {home / 'server.log'}")


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def client_env(
    prefect: PrefectServer, emulator: server.Running, data_dir: Path, **extra: str
) -> dict[str, str]:
    """Environment for a process under test: this server, the emulator, keys, its own data dir."""
    home = data_dir / "prefect-client"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "VOXCLONE_")) and not k.endswith(("_API_KEY", "_BASE_URL"))
    }
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": prefect.api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "VOXCLONE_DATA_DIR": str(data_dir),
        "VOXCLONE_HTTP_BACKOFF_BASE_S": "0.01",
        "VOXCLONE_HTTP_BACKOFF_MAX_S": "0.05",
        "VOXCLONE_HTTP_MAX_ATTEMPTS": "3",
        **emulator.env(),
        **{f"{p.upper()}_API_KEY": KEY for p in PROVIDERS},
        **extra,
    }
    return env


def make_inbox(root: Path, voices: int = 1) -> Path:
    """Voices of real speech (the four longest clips of one speaker each)."""
    source = ROOT / "data" / "samples" / "voices" / "libri-3080"
    for i in range(voices):
        voice = root / "inbox" / f"voice{i}"
        voice.mkdir(parents=True)
        for name in CLIPS:
            shutil.copy(source / name, voice / name)
    return root / "inbox"


def deployment(api_url: str, name: str, timeout: float = 120) -> dict:
    """The deployment `flow/name`, once it is registered."""
    deadline = time.monotonic() + timeout
    while True:
        response = api("GET", f"{api_url}/deployments/name/{name}")
        if response.status_code == 200:
            return response.json()
        if time.monotonic() > deadline:
            raise TimeoutError(f"deployment {name} not registered within {timeout} s")
        time.sleep(0.5)


def create_flow_run(api_url: str, deployment_id: str, parameters: dict | None = None) -> str:
    body = {"parameters": parameters} if parameters else {}
    response = api("POST", f"{api_url}/deployments/{deployment_id}/create_flow_run", json=body)
    response.raise_for_status()
    return response.json()["id"]


def wait_for_final_state(api_url: str, flow_run_id: str, timeout: float = 400) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = api("GET", f"{api_url}/flow_runs/{flow_run_id}").json()
        state = run.get("state") or {}
        if state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"flow run {flow_run_id} still {state.get('type')} after {timeout} s"
            )
        time.sleep(1)


def global_limits(api_url: str) -> dict[str, int]:
    response = api("POST", f"{api_url}/v2/concurrency_limits/filter", json={})
    response.raise_for_status()
    return {row["name"]: row["limit"] for row in response.json()}


NEVER = "0 0 1 1 *"  # a schedule that does not fire during a test


def serve_and_run(
    api_url: str, env: dict[str, str], inbox: Path, name: str, log: Path, *extra: str
) -> dict:
    """`voxclone serve` as a user starts it, one flow run created from its deployment through the
    API and waited for; returns the finished flow run (the serve process is stopped either way)."""
    serve = subprocess.Popen(
        [
            *(str(BIN / "voxclone"), "serve", "--inbox", str(inbox), *extra),
            *("--providers", "cartesia,althea", "--name", name, "--cron", NEVER),
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        found = deployment(api_url, f"clone-voices/{name}")
        return wait_for_final_state(api_url, create_flow_run(api_url, found["id"]))
    finally:
        stop(serve)
