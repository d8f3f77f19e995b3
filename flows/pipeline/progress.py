"""Progress for long runs: a Prefect progress artifact in the UI and, on a terminal, a progress bar."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.artifacts import create_progress_artifact, update_progress_artifact


class RunProgress:
    def __init__(self, total: int, description: str, bar: bool = False) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.partial = 0.0
        self._lock = threading.Lock()
        self._artifact: Any = create_progress_artifact(progress=0.0, description=description)
        self._bar = None
        if bar and sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._bar.start()
            self._task = self._bar.add_task(description, total=self.total)

    def advance(self, label: str = "") -> None:
        with self._lock:
            self.done += 1
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

    def watch(self, files: Callable[[], list[Path]], every_s: float = 2.0) -> Callable[[], None]:
        """Poll the workers' progress files in a thread until the returned stop() is called."""
        from flows.pipeline.worker import read_progress

        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every_s):
                read = [r for r in map(read_progress, files()) if r is not None]
                if read:
                    longest = max(read)
                    self.within(sum(f for f, _ in read), f"{longest[1]} ({100 * longest[0]:.0f} %)")

        threading.Thread(target=loop, daemon=True, name="clip-progress").start()
        return stop.set

    def close(self) -> None:
        update_progress_artifact(artifact_id=self._artifact, progress=100.0)
        if self._bar:
            self._bar.stop()
