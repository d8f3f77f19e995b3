"""The temporary Prefect server that `voxclone run` starts when no PREFECT_API_URL is set.

One per PREFECT_HOME, shared by the runs using it and stopped when the last of them ends, however
it ends. Prefect waits 20 s for its own by default; on a loaded 2-core machine that is not always
enough, and the failure was a traceback. Here it gets 120 s (unless the user chose a value), and
if it still does not start the user gets one line saying what to do instead.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT_S = 120
# What Prefect's RuntimeError starts with (prefect/server/api/server.py, SubprocessASGIServer.start).
_TIMED_OUT = "Timed out while attempting to connect to ephemeral Prefect API server"
HINT = (
    "voxclone: the temporary Prefect server did not start in time; start one with `make ui` "
    "and set PREFECT_API_URL=http://127.0.0.1:4200/api, then run again"
)


def startup_timeout() -> int:
    """How long a run waits for the temporary server: STARTUP_TIMEOUT_S unless the user chose."""
    from prefect.settings import get_current_settings

    ephemeral = get_current_settings().server.ephemeral
    chosen = "startup_timeout_seconds" in ephemeral.model_fields_set
    return ephemeral.startup_timeout_seconds if chosen else STARTUP_TIMEOUT_S


def did_not_start(error: BaseException) -> bool:
    return isinstance(error, RuntimeError) and str(error).startswith(_TIMED_OUT)


# --- one server for every run sharing a PREFECT_HOME ------------------------------------------
#
# In $PREFECT_HOME/voxclone-server/: `server.json` names the server's port and its keeper's pid,
# `lease` is held shared by every run using the server (the kernel lets go of it however the
# run ends), and `decide.lock` is held while a run or the keeper decides to start, join or stop.

LEASE, DECIDE, SERVER = "lease", "decide.lock", "server.json"


@contextmanager
def decision(folder: Path) -> Iterator[None]:
    with open(folder / DECIDE, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _known(folder: Path) -> dict | None:
    try:
        found = json.loads((folder / SERVER).read_text())
        return found if _is_keeper(int(found["pid"])) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget(folder: Path) -> None:
    """server.json removed, if it names this process's server (a keeper's last act)."""
    found = _known(folder)
    if found is None or found["pid"] == os.getpid():
        (folder / SERVER).unlink(missing_ok=True)


def _is_keeper(pid: int) -> bool:
    """A live keeper: after a reboot the pid in server.json may be another program's."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _alive(pid)  # no /proc here: the pid has to do
    return b"flows.cli.server_keeper" in command and _alive(pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class SharedServer:
    """The temporary Prefect server of this PREFECT_HOME: joined if another run keeps one,
    otherwise started (by a keeper process, see `flows.cli.server_keeper`) at once, while the
    command does work that needs no Prefect; `wait` before anything talks to Prefect.

    Two runs each starting Prefect's own server migrated one database twice at once, and one
    printed an alembic traceback; a run killed with SIGKILL left its server running.
    """

    def __init__(self, folder: Path, timeout: int) -> None:
        from prefect.logging import get_logger
        from prefect.logging.configuration import setup_logging

        self.folder = folder
        self.error: Exception | None = None
        self.lease = open(folder / LEASE, "a+")  # noqa: SIM115 - held for the whole run
        with decision(folder):
            fcntl.flock(self.lease, fcntl.LOCK_SH)
            found = _known(folder)
            self.started = found is None
            if found is None:
                port = _free_port()
                keeper = _launch_keeper(folder, port)
                found = {"port": port, "pid": keeper.pid}
                (folder / SERVER).write_text(json.dumps(found))
        self.url, self.pid = f"http://127.0.0.1:{found['port']}", int(found["pid"])
        setup_logging()  # as importing all of Prefect would: this line is to be seen
        self.log = get_logger()
        verb = "Starting temporary server on" if self.started else "Joining temporary server on"
        self.log.info("%s %s", verb, self.url)
        atexit.register(self.leave)
        self._thread = threading.Thread(target=self._wait, args=(timeout,), daemon=True)
        self._thread.start()

    @classmethod
    def start_if_needed(cls) -> SharedServer | None:
        """None when Prefect has an API URL of the user's (the environment's or a profile's)."""
        if os.environ.get("PREFECT_API_URL"):
            return None
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        if settings.api.url:
            return None
        folder = Path(settings.home) / "voxclone-server"
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, startup_timeout())

    def _wait(self, timeout: int) -> None:
        deadline = time.monotonic() + timeout
        while not _healthy(self.url):
            if not _alive(self.pid):
                self.error = RuntimeError(f"{_TIMED_OUT} at {self.url}: its keeper exited")
                return
            if time.monotonic() > deadline:
                self.error = RuntimeError(f"{_TIMED_OUT} at {self.url} within {timeout} s")
                return
            time.sleep(0.1)

    def wait(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error

    def use(self) -> None:
        """The server is Prefect's for the rest of this process (every thread, exit handlers
        included: they send the last events and logs) and for the processes it starts."""
        from prefect.context import refresh_global_settings_context

        os.environ["PREFECT_API_URL"] = f"{self.url}/api"
        refresh_global_settings_context()

    def leave(self) -> None:
        """The lease given back; the last run out stops the server. At exit, after Prefect's own
        exit handlers (registered later, they run earlier) have sent what they hold."""
        if self.lease.closed:
            return
        with decision(self.folder):
            try:  # exclusive only when no other run holds it shared
                fcntl.flock(self.lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.lease.close()
                return
            found = _known(self.folder)
            if found is not None and found["pid"] == self.pid:
                (self.folder / SERVER).unlink()
                _stop(self.pid)
                self.log.info("Stopping temporary server on %s", self.url)
            self.lease.close()


def _stop(pid: int) -> None:
    """SIGTERM to the keeper, which stops the server; waits until it has."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _free_port() -> int:
    """A free port the way Prefect picks one (`SubprocessASGIServer.find_available_port`)."""
    import random
    import socket

    for _ in range(10):
        port = random.choice(range(8000, 9000))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                time.sleep(random.uniform(0.1, 0.5))
                continue
        return port
    raise RuntimeError("Unable to find an available port after multiple attempts")


def _launch_keeper(folder: Path, port: int) -> subprocess.Popen:
    """The keeper of the process `SubprocessASGIServer._run_uvicorn_command` (Prefect 3.9) would
    start, launched without importing that module; in a session of its own, so that it outlives
    this run, and stops the server when the last run using it is gone."""
    import prefect
    from prefect.settings import get_current_settings

    app_dir = str(prefect.__module_path__.parent)
    args = [sys.executable, "-m", "uvicorn", "--app-dir", app_dir,
            "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "error", "--lifespan", "on"]  # fmt: skip
    server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                  "PREFECT__SERVER_FINAL": "1"}  # fmt: skip
    settings_env = get_current_settings().to_environment_variables(exclude_unset=True)
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli.server_keeper", str(folder), *args],
        env={**os.environ, **server_env, **settings_env},
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )


def run_with_server(
    command: Callable[[], int], before: Callable[[bool], Callable[[], None] | None] | None = None
) -> int:
    """Run a command that talks to Prefect; a server that never started is one line and exit 3.

    Unless the user named a server, the temporary one (shared with other runs of this
    PREFECT_HOME) is joined or started at once, in the background while `before` (work that needs
    no Prefect) runs; `before` is told whether the command waits for that server, and may return
    what undoes it, called however the command ends (work queued for a flow that never ran must
    not hold up the exit).
    """
    undo = server = None
    try:
        server = SharedServer.start_if_needed()
        if before is not None:
            undo = before(server is not None)
        if server is None:
            return command()
        server.wait()
        server.use()
        return command()
    except RuntimeError as e:
        if not did_not_start(e):
            raise
        print(HINT, file=sys.stderr)
        return 3
    finally:
        if undo is not None:
            undo()
