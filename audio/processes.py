"""What every process a run starts needs: to die with the run, and to be forked only where a
fork is safe.

The run's processes: the temporary Prefect server (`flows.cli.server_keeper`), the clip workers
(`flows.pipeline.cpu_pool`) and the chunk pools inside one long recording (`audio.cores`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading


def die_with_parent() -> None:
    """Linux: this process is SIGKILLed when the thread that started it ends, so a run killed
    with SIGKILL leaves no worker, server or model process behind (prctl PR_SET_PDEATHSIG).

    Used in processes started from a thread that lives as long as the run: the CLI's main
    thread (the temporary Prefect server, the head-start pool) or a worker's only thread (the
    chunk pools). Elsewhere a no-op: other systems end orphans by their own means or not.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the call: nobody will ever signal us
        os._exit(1)


def can_fork() -> bool:
    """Whether a child forked now gets a working copy of this process: where fork exists and
    this process runs one Python thread (a pool worker, the CLI before Prefect starts).

    A child gets only the thread that forked it. A lock another Python thread held (Prefect's,
    logging's) stays held in the child for ever, hence the count; native threads are not in it.
    That is safe only because the models loaded here have none: every onnxruntime session runs
    on the calling thread (`audio.onnx.session`: one intra-op and one inter-op thread, no
    spinning), and OpenBLAS restarts its own pool in the child. A session given threads of its
    own would leave its forked copies waiting on threads that do not exist.
    """
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
