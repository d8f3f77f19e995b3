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
    labels: list[str] = []
    within = run.within
    monkeypatch.setattr(
        run, "within", lambda units, label="": (labels.append(label), within(units, label))
    )
    files = {
        "ana/a.wav": tmp_path / "progress" / "a.json",
        "ana/b.wav": tmp_path / "progress" / "b.json",
    }
    ProgressFile(files["ana/a.wav"])(0.5, "speaker turns")
    ProgressFile(files["ana/b.wav"])(1.0, "done")
    stop = run.watch(lambda: files, every_s=0.05)
    deadline = time.monotonic() + 5
    while not updates and time.monotonic() < deadline:
        time.sleep(0.02)
    stop()
    assert updates and updates[-1] == 100.0 * 1.5 / 4
    assert labels[-1] == "preparing ana/b.wav: done 100 % (+1 more)", "the bar names the clip"
    run.advance("prepared a")
    assert updates[-1] == 25.0


def test_a_failed_run_never_ends_at_100_percent(monkeypatch):
    updates: list[dict] = []
    monkeypatch.setattr(progress_module, "create_progress_artifact", lambda **_: "artifact")
    monkeypatch.setattr(
        progress_module, "update_progress_artifact", lambda **kw: updates.append(kw)
    )
    run = progress_module.RunProgress(4, "preparing and cloning")
    run.advance("prepared ana/a.wav")
    for _ in range(3):
        run.advance("failed: ana on anam", ok=False)
    run.close()
    assert updates[-1]["progress"] == 25.0
    assert updates[-1]["description"].startswith("failed: 3 of 4 clips and clones did not succeed")
    ok = progress_module.RunProgress(1, "preparing")
    ok.advance("prepared")
    ok.close()
    assert updates[-1]["progress"] == 100.0 and updates[-1]["description"] is None


def test_time_left_comes_from_the_work_done():
    from rich.progress import Progress

    column = progress_module.TimeLeft()
    with Progress(column, disable=True) as bar:
        task_id = bar.add_task("x", total=10)
        task = bar.tasks[task_id]
        assert column.render(task).plain == ""  # nothing done: no guess
        bar.update(task_id, completed=2.5)
        task.start_time = task.stop_time = None  # a fixed clock: 30 s in, a quarter done
        task.start_time = bar.get_time() - 30
        assert column.render(task).plain == "0:01:30 left"


def test_the_bar_draws_on_the_console_prefect_logs_with():
    """One Console for the bar and the log records, so rich prints each record above the bar;
    Prefect's Console has a theme without rich's bar styles, which the bar must bring."""
    import logging

    from prefect.logging.configuration import setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    setup_logging()
    console = progress_module.shared_console()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    assert handlers and console is handlers[0].console
    bar, task = progress_module.new_bar(console, "preparing ana/a.wav: decode 0 %", 4)
    bar.update(task, completed=1)
    with console.capture() as captured:
        console.print(bar.get_renderable())
    assert "preparing ana/a.wav: decode 0 %" in captured.get() and "25%" in captured.get()
