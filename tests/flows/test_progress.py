"""A long clip moves the run's progress: the chain says how far it is, a worker writes it to a
file, and the run's progress (artifact and bar) reads it while the clip is still preparing."""

from __future__ import annotations

import time
from pathlib import Path

import conversations as cv

from audio.chain import Settings, prepare
from audio.types import Audio
from flows.pipeline import progress as progress_module
from flows.pipeline.worker import ProgressFile, progress_file, read_progress


def test_the_chain_reports_every_stage_in_order_up_to_done():
    seen: list[tuple[float, str]] = []
    prepare(Audio(cv.monologue(2).samples, cv.RATE), Settings(), lambda f, s: seen.append((f, s)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1][1] == "done"
    stages = [s for _, s in seen]
    assert stages.index("denoise check") < stages.index("speaker turns")
    inside = [f for f, s in seen if s == "speaker turns"]
    assert inside[0] == 0.5 and inside[-1] == 1.0  # it moves inside the longest stage


def test_a_worker_progress_file_is_read_back_and_removed(tmp_path: Path):
    path = progress_file(str(tmp_path / "store"), "/some/where/episode.mp3")
    assert path.parent == tmp_path / "progress"
    report = ProgressFile(path)
    report(0.25, "speech detection")
    assert read_progress(path) == (0.25, "speech detection")
    report(0.3, "measure")  # within half a second of the last write: skipped
    assert read_progress(path) == (0.25, "speech detection")
    report(1.0, "done")  # the end is always written
    assert read_progress(path) == (1.0, "done")
    report.remove()
    assert read_progress(path) is None and not path.exists()


def test_the_run_progress_counts_work_inside_unfinished_clips(tmp_path: Path, monkeypatch):
    updates: list[float] = []
    monkeypatch.setattr(progress_module, "create_progress_artifact", lambda **_: "artifact")
    monkeypatch.setattr(
        progress_module, "update_progress_artifact", lambda **kw: updates.append(kw["progress"])
    )
    run = progress_module.RunProgress(4, "preparing")
    files = [tmp_path / "progress" / "a.json", tmp_path / "progress" / "b.json"]
    ProgressFile(files[0])(0.5, "speaker turns")
    ProgressFile(files[1])(1.0, "done")
    stop = run.watch(lambda: files, every_s=0.05)
    deadline = time.monotonic() + 5
    while not updates and time.monotonic() < deadline:
        time.sleep(0.02)
    stop()
    assert updates and updates[-1] == 100.0 * 1.5 / 4
    run.advance("prepared a")
    assert updates[-1] == 25.0
