"""Work inside one long recording on every core: chunks mapped over forked processes.

An hour of audio in one worker leaves the other cores idle. The costly per-chunk models (Silero
over 10-minute chunks, CAM++ over groups of windows) are shared out to forked children, which
inherit the signal and the loaded weights instead of pickling them. Chunks are fixed by the
caller, not by the core count, so the result is the same on any machine, in parallel or not.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from audio.processes import can_fork, die_with_parent

T = TypeVar("T")
R = TypeVar("R")

# What the chunk function reads: per thread (clone tasks measure their takes in threads at
# once), and inherited by the forked children from the one thread that forks them.
_local = threading.local()


def shared() -> Any:
    return getattr(_local, "data", None)


def map_chunks(
    fn: Callable[[T], R], chunks: Sequence[T], data: Any, parallel: bool = True
) -> Iterator[R]:
    """fn(chunk) for every chunk, in order; fn reads `data` through shared().

    Forked processes only when there is more than one chunk and core, and when forking is safe
    (`audio.processes.can_fork`: not in a Prefect flow's threads). Otherwise here, one after
    another.
    """
    workers = min(os.cpu_count() or 1, len(chunks))
    previous = shared()
    _local.data = data
    try:
        if not parallel or workers < 2 or not can_fork():
            yield from map(fn, chunks)
            return
        with multiprocessing.get_context("fork").Pool(workers, initializer=die_with_parent) as pool:
            yield from pool.imap(fn, chunks)
    finally:
        _local.data = previous
