"""Keeps the temporary Prefect server that runs sharing a PREFECT_HOME use, and stops it once no
run holds the lease any more: the last run out stops it itself, this catches runs that were
killed. It runs in a session of its own, so it outlives the run that started it.

    python -m flows.cli.server_keeper FOLDER UVICORN_ARGS...
"""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import time
from pathlib import Path

from audio.processes import die_with_parent
from flows.cli.server import LEASE, decision, forget

POLL_S = 0.5


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main(argv: list[str]) -> int:
    folder, command = Path(argv[0]), argv[1:]
    server = subprocess.Popen(command, preexec_fn=die_with_parent)  # dies with this keeper

    def stop(*_: object) -> None:
        _stop(server)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(folder / LEASE, "a+") as lease:
        while server.poll() is None:
            time.sleep(POLL_S)
            with decision(folder):
                try:  # only when no run holds its shared lock
                    fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                forget(folder)
                _stop(server)
                return 0
    with decision(folder):  # the server ended on its own: no run may be sent to it
        forget(folder)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
