"""Progress for long runs: a Prefect progress artifact in the UI and, on a terminal, a progress bar."""

from __future__ import annotations

import sys
import threading

from prefect.artifacts import create_progress_artifact, update_progress_artifact


class RunProgress:
    def __init__(self, total: int, description: str, bar: bool = False) -> None:
        self.total = max(total, 1)
        self.done = 0
        self._lock = threading.Lock()
        self._artifact = create_progress_artifact(progress=0.0, description=description)
        self._bar = None
        if bar and sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._bar.start()
            self._task = self._bar.add_task(description, total=self.total)

    def advance(self, label: str = "") -> None:
        with self._lock:
            self.done += 1
            percent = round(100.0 * self.done / self.total, 1)
        update_progress_artifact(artifact_id=self._artifact, progress=percent)
        if self._bar:
            self._bar.update(self._task, advance=1, description=label or None)

    def close(self) -> None:
        update_progress_artifact(artifact_id=self._artifact, progress=100.0)
        if self._bar:
            self._bar.stop()
