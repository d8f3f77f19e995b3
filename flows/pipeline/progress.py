"""Progress for long runs: a Prefect progress artifact in the UI and, on a terminal, a progress bar.

The bar and the run's log records share one rich Console (Prefect's console handler's): rich then
prints each record above the bar instead of into it. The bar names the clip being prepared and
estimates the time left from the work done so far (elapsed × left / done), not from the last
seconds' speed, which a long clip's stages make jump.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from rich.console import Console
from rich.default_styles import DEFAULT_STYLES
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
)
from rich.text import Text
from rich.theme import Theme


def shared_console() -> Console:
    """The Console Prefect's console handler prints log records with (so a live bar on it keeps
    them apart), or a new one on stderr when logging has none. Prefect's has a theme of its own
    without rich's defaults: the bar's styles are added to it."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for name in (
        "",
        "prefect",
        "prefect.flow_runs",
        "prefect.task_runs",
    ):  # root, as Prefect sets it
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                console: Console = handler.console
                bar_styles = {k: v for k, v in DEFAULT_STYLES.items() if k.startswith(BAR_STYLES)}
                console.push_theme(Theme(bar_styles, inherit=False))
                return console
    return Console(file=sys.stderr)


BAR_STYLES = ("bar.", "progress.")


def new_bar(console: Console, description: str, total: float) -> tuple[Progress, TaskID]:
    """The run's bar: what it works on, the bar, the percentage, the time left."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        TaskProgressColumn(),
        TimeLeft(),
        console=console,
        transient=False,
        expand=True,
    )
    return bar, bar.add_task(description, total=total)


class _NoStateReprs(logging.Filter):
    """Prefect logs a task that returned a Failed state as 'Task run failed with state:
    Failed(message=…, result=CloneResult(…))' and a stray 'NoneType: None' (exc_info with no
    exception); its next record, 'Finished in state Failed('…')', says the same in words."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task run failed with state:")


def readable_logs() -> None:
    """Log records are sentences: leave out Prefect's repr of a returned Failed state."""
    logger = logging.getLogger("prefect.task_runs")
    if not any(isinstance(f, _NoStateReprs) for f in logger.filters):
        logger.addFilter(_NoStateReprs())


class TimeLeft(ProgressColumn):
    """'2:13 left' from the work done so far; nothing until something is done."""

    def render(self, task: Task) -> Text:
        if not task.completed or task.elapsed is None or task.total is None:
            return Text("")
        left = task.elapsed * max(0.0, task.total - task.completed) / task.completed
        return Text(f"{timedelta(seconds=round(left))} left", style="progress.remaining")


class RunProgress:
    def __init__(self, total: int, description: str, bar: bool = False) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.failed = 0
        self.partial = 0.0
        self._lock = threading.Lock()
        self._artifact: Any = create_progress_artifact(
            progress=0.0, key="run-progress", description=description
        )
        self._bar: Progress | None = None
        if bar and sys.stderr.isatty():
            self._bar, self._task = new_bar(shared_console(), description, self.total)
            self._bar.start()

    def advance(self, label: str = "", ok: bool = True) -> None:
        """One clip or clone finished; `ok` False when it did not succeed."""
        with self._lock:
            self.done += 1
            self.failed += not ok
            self.partial = 0.0
            percent = round(100.0 * self.done / self.total, 1)
        update_progress_artifact(artifact_id=self._artifact, progress=percent)
        if self._bar:
            self._bar.update(self._task, completed=self.done, description=label or None)

    def within(self, units: float, label: str = "") -> None:
        """Work done inside unfinished items (0.4 of a long clip's preparation, say), so a run
        that is one hour-long recording moves instead of sitting at 0 %."""
        with self._lock:
            self.partial = units
            percent = round(100.0 * (self.done + units) / self.total, 1)
        update_progress_artifact(artifact_id=self._artifact, progress=percent)
        if self._bar:
            self._bar.update(self._task, completed=self.done + units, description=label or None)

    def watch(
        self, files: Callable[[], dict[str, Path]], every_s: float = 2.0
    ) -> Callable[[], None]:
        """Poll the workers' progress files ({"voice/clip": file}) in a thread until the returned
        stop() is called."""
        from flows.pipeline.worker import read_progress

        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every_s):
                read = [(p, name) for name, f in files().items() if (p := read_progress(f))]
                if read:
                    (fraction, stage), name = max(read, key=lambda x: x[0][0])
                    more = f" (+{len(read) - 1} more)" if len(read) > 1 else ""
                    self.within(
                        sum(p[0] for p, _ in read),
                        f"preparing {name}: {stage} {100 * fraction:.0f} %{more}",
                    )

        threading.Thread(target=loop, daemon=True, name="clip-progress").start()
        return stop.set

    def close(self) -> None:
        """All done: 100 %, or, when anything failed, the share that succeeded and a description
        that says so (a failed run never shows as 100 % done)."""
        progress, description = 100.0, None
        if self.failed:
            progress = round(100.0 * (self.done - self.failed) / self.total, 1)
            description = (
                f"failed: {self.failed} of {self.total} clips and clones did not succeed; "
                "see the qc-per-clip and clone-results artifacts"
            )
        update_progress_artifact(
            artifact_id=self._artifact, progress=progress, description=description
        )
        if self._bar:
            if self.failed:
                self._bar.update(self._task, description=f"{self.failed} of {self.total} failed")
            self._bar.stop()
