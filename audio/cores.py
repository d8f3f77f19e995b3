"""Work inside one long recording on every core: chunks mapped over forked processes.

An hour of audio in one worker leaves the other cores idle. The costly per-chunk models (Silero
over 10-minute chunks, CAM++ over groups of windows) are shared out to forked children, which
inherit the signal and the loaded weights instead of pickling them. Chunks are fixed by the
caller, not by the core count, so the result is the same on any machine, in parallel or not.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# What the chunk function reads: per thread (clone tasks measure their takes in threads at
# once), and inherited by the forked children from the one thread that forks them.
_local = threading.local()


def die_with_parent() -> None:
    """Linux: this process is SIGKILLed when the thread that started it ends, so a run killed
    with SIGKILL leaves no worker, server or model process behind (prctl PR_SET_PDEATHSIG).

    Used in processes started from a thread that lives as long as the run: the CLI's main
    thread (the temporary Prefect server, the head-start pool) or a worker's only thread (the
    chunk pools here). Elsewhere a no-op: other systems end orphans by their own means or not.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the call: nobody will ever signal us
        os._exit(1)


def shared() -> Any:
    return getattr(_local, "data", None)


def map_chunks(
    fn: Callable[[T], R], chunks: Sequence[T], data: Any, parallel: bool = True
) -> Iterator[R]:
    """fn(chunk) for every chunk, in order; fn reads `data` through shared().

    Forked processes only when there is more than one chunk and core, and when this process runs
    a single Python thread (a pool worker, the CLI): forking a threaded process (a Prefect flow)
    can copy a lock another thread holds. Otherwise here, one after another.
    """
    workers = min(os.cpu_count() or 1, len(chunks))
    previous = shared()
    _local.data = data
    try:
        if (
            not parallel
            or workers < 2
            or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()
        ):
            yield from map(fn, chunks)
            return
        with multiprocessing.get_context("fork").Pool(workers, initializer=die_with_parent) as pool:
            yield from pool.imap(fn, chunks)
    finally:
        _local.data = previous
