"""The temporary Prefect server: 120 s to start unless the user chose otherwise, one line if not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLIP = ROOT / "data" / "samples" / "voices" / "libri-3080" / "3080-5032-0002.flac"
TIMEOUT = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VOXCLONE_"))}
    return env | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "VOXCLONE_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


def _timeout_inside(env: dict[str, str]) -> int:
    code = (
        "from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as S\n"
        "from flows.cli.server import startup_time\n"
        "with startup_time():\n    print(S.value())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, 120),  # no server, nothing chosen: raised
        ({TIMEOUT: "7"}, 7),  # the user's own value stands
        ({"PREFECT_API_URL": "http://127.0.0.1:9/api"}, 20),  # a real server: Prefect's default
    ],
)
def test_startup_timeout_is_raised_only_when_it_is_ours_to_choose(
    tmp_path: Path, extra: dict[str, str], expected: int
) -> None:
    assert _timeout_inside(_env(tmp_path, **extra)) == expected


def test_a_server_that_does_not_start_is_one_line_and_exit_3(tmp_path: Path) -> None:
    voice = tmp_path / "inbox" / "one"
    voice.mkdir(parents=True)
    shutil.copy(CLIP, voice / CLIP.name)
    done = subprocess.run(
        [str(BIN / "voxclone"), "run", str(tmp_path / "inbox"), "--providers", "cartesia"],
        env=_env(tmp_path, **{TIMEOUT: "1"}),  # far less than any start takes
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    hint = [line for line in done.stderr.splitlines() if line.startswith("voxclone:")]
    assert len(hint) == 1 and "make ui" in hint[0] and "PREFECT_API_URL" in hint[0]
    assert not (tmp_path / "data" / "reports").exists()


def test_a_cold_run_starts_one_temporary_server_and_stops_it(tmp_path: Path) -> None:
    """The server process is launched before Prefect's server module is imported and handed to
    Prefect's own `start`: one server, used by the run, and gone when the command returns."""
    import re
    import socket

    voice = tmp_path / "inbox" / "one"
    voice.mkdir(parents=True)
    shutil.copy(CLIP, voice / CLIP.name)
    done = subprocess.run(
        [
            str(BIN / "voxclone"),
            "run",
            str(tmp_path / "inbox"),
            "--providers",
            "cartesia",
            "--dry-run",
            "--no-report",
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    started = re.findall(r"Starting temporary server on http://127\.0\.0\.1:(\d+)", done.stderr)
    stopped = re.findall(r"Stopping temporary server on http://127\.0\.0\.1:(\d+)", done.stderr)
    assert len(started) == 1 and stopped == started
    assert "Completed()" in done.stderr and "would-send" in done.stdout
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", int(started[0])))
