"""Work inside one long recording on every core: chunks mapped over forked processes.

An hour of audio in one worker leaves the other cores idle. The costly per-chunk models (Silero
over 10-minute chunks, CAM++ over groups of windows) are shared out to forked children, which
inherit the signal and the loaded weights instead of pickling them. Chunks are fixed by the
caller, not by the core count, so the result is the same on any machine, in parallel or not.

A chunk's result travels back pickled, which suits small results (probabilities, energies). A
chunk of the signal itself (decoded, filtered, resampled) is instead written by the child into a
`shared_empty` buffer: sent back through a pipe, an hour of float32 costs the parent about as
much CPU as the filtering did.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

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


def shared_empty(n: int, dtype: type = np.float32) -> np.ndarray:
    """An uninitialised array in memory shared with the processes `map_chunks` forks: what a
    chunk writes into it there is seen here (in ordinary memory a forked child writes into a
    copy of its own). Freed like any array, when the last view of it goes."""
    size = n * np.dtype(dtype).itemsize
    if size == 0:
        return np.empty(n, dtype)
    return np.frombuffer(mmap.mmap(-1, size), dtype=dtype, count=n)


def is_shared(x: np.ndarray) -> bool:
    """Whether `x` is a view of a `shared_empty` buffer (forked chunks may write into it)."""
    base: Any = x
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)
