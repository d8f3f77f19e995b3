"""The README's "A first run by hand", run as written: terminal 1's command, its printed lines
pasted into terminal 2's shell, then terminal 2's commands one by one.

Two liberties, both a machine's and not a reader's: the emulator gets a free port (`--port`), since
8765 may be taken on a shared machine, and the data dir and Prefect's home are a temporary folder.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def _blocks() -> list[list[str]]:
    """The section's sh blocks, each as its command lines (comments and blank lines dropped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A first run by hand", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [
        [
            line.split("  #")[0].strip()
            for line in b.splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for b in blocks
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readme_first_run_works_as_written(tmp_path: Path) -> None:
    terminal_1, terminal_2 = _blocks()
    assert terminal_1 == [".venv/bin/voxclone emulator"], terminal_1
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VOXCLONE_"))}
    env = {k: v for k, v in env.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "VOXCLONE_DATA_DIR": str(tmp_path / "data"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "120"}  # fmt: skip
    emulator = subprocess.Popen(
        [*shlex.split(terminal_1[0]), "--port", str(_free_port())],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        printed = []
        assert emulator.stdout is not None
        for line in emulator.stdout:  # what a person sees in terminal 1, up to the control line
            printed.append(line.rstrip("\n"))
            if line.startswith("# control:"):
                break
        pasted = "\n".join(printed)  # comments and exports, pasted into terminal 2's shell
        assert "export ELEVENLABS_API_KEY=" in pasted and "export CARTESIA_BASE_URL=" in pasted

        def shell(command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["bash", "-c", f"{pasted}\n{command}"], cwd=ROOT, env=env, capture_output=True,
                text=True, timeout=600,
            )  # fmt: skip

        run, voices, lineage = terminal_2
        done = shell(run)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "no API key" not in done.stdout + done.stderr
        assert done.stdout.count("created") >= 4, done.stdout  # 2 voices × elevenlabs, cartesia
        listed = shell(voices)
        assert listed.returncode == 0, listed.stderr
        ids = re.findall(r"^\s*(\S+)\s+(?:ElevenLabs|Cartesia)\s", listed.stdout, re.M)
        assert len(ids) == 4, listed.stdout
        traced = shell(lineage.replace("VOICE_ID", ids[0]))
        assert traced.returncode == 0, traced.stderr
        assert ids[0] in traced.stdout and "data/samples/voices/" in traced.stdout
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
