"""The temporary Prefect server: 120 s to start unless the user chose otherwise, one line if not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Every test here runs `voxclone` in fresh interpreters, most start a real Prefect server.
pytestmark = pytest.mark.integration

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
    code = "from flows.cli.server import startup_timeout\nprint(startup_timeout())\n"
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
    ],
)
def test_startup_timeout_is_ours_only_when_the_user_chose_none(
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


def _run(tmp_path: Path, data: str, **extra: str) -> subprocess.Popen:
    voice = tmp_path / "inbox" / "one"
    if not voice.exists():
        voice.mkdir(parents=True)
        shutil.copy(CLIP, voice / CLIP.name)
    command = [str(BIN / "voxclone"), "run", str(tmp_path / "inbox"), "--providers", "cartesia",
               "--dry-run", "--no-report"]  # fmt: skip
    env = _env(tmp_path, VOXCLONE_DATA_DIR=str(tmp_path / data), **extra)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _ports(pattern: str, text: str) -> list[str]:
    import re

    return re.findall(pattern + r" http://127\.0\.0\.1:(\d+)", text)


def test_concurrent_runs_share_one_server_and_the_last_one_out_stops_it(tmp_path: Path) -> None:
    """Two runs on one PREFECT_HOME each started Prefect's server, and one printed an alembic
    traceback from migrating the database the other was migrating (issue 18)."""
    import socket

    runs = [_run(tmp_path, f"data{i}") for i in (1, 2)]
    done = [run.communicate(timeout=300) for run in runs]
    err = "".join(e for _, e in done)
    assert [run.returncode for run in runs] == [0, 0], err[-3000:]
    assert "Traceback" not in err and "alembic" not in err.lower()
    started = _ports("Starting temporary server on", err)
    assert len(started) == 1
    assert _ports("Joining temporary server on", err) == started
    assert _ports("View at", err) == started * 2  # both flow runs are on it
    assert _ports("Stopping temporary server on", err) == started
    assert not (tmp_path / "prefect" / "voxclone-server" / "server.json").exists()
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", int(started[0])))


@pytest.mark.parametrize("pid", ["gone", "another program's"])
def test_a_server_whose_keeper_is_gone_is_replaced(tmp_path: Path, pid: str) -> None:
    """server.json left by a machine that was switched off: its keeper's pid is no process, or,
    after a reboot, some other program's."""
    import json

    folder = tmp_path / "prefect" / "voxclone-server"
    folder.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = gone.pid if pid == "gone" else os.getpid()
    (folder / "server.json").write_text(json.dumps({"port": 9, "pid": stale}))
    run = _run(tmp_path, "data")
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    started = _ports("Starting temporary server on", err)
    assert len(started) == 1 and started != ["9"] and _ports("View at", err) == started
    assert not (folder / "server.json").exists()
