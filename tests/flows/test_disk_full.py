"""A full disk is a clear error with what was done listed, never a traceback or leftover junk
(issue 18). The data dir is a small tmpfs mounted here; skipped where mounting is not allowed."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_cases import CLIPS, VOICES

from flows.cli import main

pytestmark = pytest.mark.integration  # a real Prefect server


@pytest.fixture
def small_disk(tmp_path: Path, request) -> Iterator[Path]:
    where = tmp_path / "small"
    where.mkdir()
    size = request.param
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _inbox(root: Path) -> Path:
    folder = root / "inbox" / "breathe"
    folder.mkdir(parents=True)
    for name in CLIPS:
        shutil.copy(VOICES / "libri-3080" / name, folder / name)
    (folder / "voice.toml").write_text('name = "Breathe Test"\n')
    return root / "inbox"


@pytest.mark.parametrize("small_disk", ["64k"], indirect=True)
def test_no_room_for_the_ledger_is_one_line(
    small_disk, prefect_api, env, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(small_disk))
    code = main(["run", str(_inbox(tmp_path)), "--providers", "cartesia", "--dry-run", "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert "disk full" in err or "No space left" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("small_disk", ["2500k"], indirect=True)
def test_a_store_that_fills_up_leaves_no_part_files_and_lists_what_was_done(
    small_disk, prefect_api, env, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(small_disk))
    code = main(["run", str(_inbox(tmp_path)), "--providers", "cartesia", "--dry-run", "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    run = json.loads(captured.out)  # the summary is printed whatever could not be written
    statuses = {c["clip"]: c["status"] for c in run["clips"]}
    assert set(statuses) == set(CLIPS)
    full = [c for c in run["clips"] if c["status"] != "ok"]
    assert full, "a 2.5 MB disk cannot hold four prepared clips"
    for c in full:  # the store's write or the ledger's: named, as the disk being full
        assert "No space left on device" in c["error"] or "disk is full" in c["error"], c["error"]
    assert code == 1
    assert not list((small_disk / "store").rglob("*.part"))
