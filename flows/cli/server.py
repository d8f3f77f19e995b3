"""The temporary Prefect server that `voxclone run` starts when no PREFECT_API_URL is set.

Prefect waits 20 s for it by default; on a loaded 2-core machine that is not always enough, and
the failure was a traceback. Here it gets 120 s (unless the user chose a value), and if it still
does not start the user gets one line saying what to do instead.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STARTUP_TIMEOUT_S = 120
# What Prefect's RuntimeError starts with (prefect/server/api/server.py, SubprocessASGIServer.start).
_TIMED_OUT = "Timed out while attempting to connect to ephemeral Prefect API server"
HINT = (
    "voxclone: the temporary Prefect server did not start in time; start one with `make ui` "
    "and set PREFECT_API_URL=http://127.0.0.1:4200/api, then run again"
)


@contextmanager
def startup_time() -> Iterator[None]:
    """Give the temporary server STARTUP_TIMEOUT_S unless an API URL or a timeout is set."""
    from prefect.settings import (
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        get_current_settings,
        temporary_settings,
    )

    settings = get_current_settings()
    chosen = "startup_timeout_seconds" in settings.server.ephemeral.model_fields_set
    if settings.api.url or chosen:
        yield
        return
    with temporary_settings(
        updates={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: STARTUP_TIMEOUT_S}
    ):
        yield


def did_not_start(error: BaseException) -> bool:
    return isinstance(error, RuntimeError) and str(error).startswith(_TIMED_OUT)


class EarlyServer:
    """Prefect's own temporary server, started before the command needs it.

    Prefect starts it on the first API call, after the flow's imports and setup; its start (a
    subprocess that migrates a new database, 10 s) is the longest step of a cold run and need not
    wait for those. The process is launched at once; Prefect's server module (2 s of imports: the
    whole server app) is imported, and the server waited for, in a thread meanwhile. `wait` must
    be called before anything talks to Prefect: `SubprocessASGIServer.start` marks the server
    running before it answers, so a second caller would not wait for it.
    """

    def __init__(self, port: int, timeout: int) -> None:
        self.error: BaseException | None = None
        self._launched = [_launch(port)]
        atexit.register(self._stop_unclaimed)  # once handed to Prefect, Prefect stops it
        self._port, self._timeout = port, timeout
        self._thread = threading.Thread(target=self._start, name="prefect-server", daemon=True)
        self._thread.start()

    @classmethod
    def start_if_needed(cls) -> EarlyServer | None:
        """An early server unless Prefect has an API URL (the environment's says so at once)."""
        if os.environ.get("PREFECT_API_URL"):
            return None
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        if settings.api.url:
            return None
        chosen = "startup_timeout_seconds" in settings.server.ephemeral.model_fields_set
        timeout = settings.server.ephemeral.startup_timeout_seconds
        return cls(_free_port(), timeout if chosen else STARTUP_TIMEOUT_S)

    def _start(self) -> None:
        """`SubprocessASGIServer().start()` with the process launched already: `start` then does
        the rest as always (the health wait, a new port if this one was taken, the timeout, and
        stopping the server at exit)."""
        try:
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()
            if server.running:  # started meanwhile by someone else: theirs stands
                self._launched.pop().terminate()
                return
            server.port = self._port
            launched = self._launched
            server._run_uvicorn_command = lambda: (  # type: ignore[method-assign]
                launched.pop() if launched else SubprocessASGIServer._run_uvicorn_command(server)
            )
            try:
                server.start(timeout=self._timeout)
            finally:
                del server._run_uvicorn_command
        except BaseException as e:  # raised again by `wait`, in the command's own thread
            self.error = e

    def _stop_unclaimed(self) -> None:
        for process in self._launched:  # the command ended before Prefect took it
            process.terminate()
            process.wait()

    def wait(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error


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


def _launch(port: int) -> subprocess.Popen:
    """The process of `SubprocessASGIServer._run_uvicorn_command` (Prefect 3.9), launched without
    importing that module."""
    import prefect
    from prefect.settings import get_current_settings

    app_dir = str(prefect.__module_path__.parent)
    args = [sys.executable, "-m", "uvicorn", "--app-dir", app_dir,
            "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "error", "--lifespan", "on"]  # fmt: skip
    server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                  "PREFECT__SERVER_FINAL": "1"}  # fmt: skip
    settings_env = get_current_settings().to_environment_variables(exclude_unset=True)
    # Ends with this run even when it is SIGKILLed, but only when started from the main thread:
    # the death signal follows the thread that started the process, not the process.
    from audio.cores import die_with_parent

    main = threading.current_thread() is threading.main_thread()
    return subprocess.Popen(
        args=args,
        env={**os.environ, **server_env, **settings_env},
        preexec_fn=die_with_parent if main else None,
    )


def run_with_server(
    command: Callable[[], int], before: Callable[[bool], Callable[[], None] | None] | None = None
) -> int:
    """Run a command that talks to Prefect; a server that never started is one line and exit 3.

    With `before` (work that needs no Prefect), Prefect's temporary server, when there is to be
    one, starts at once in the background while `before` runs, instead of when the command first
    calls the API; `before` is told whether it is starting, and may return what undoes it, called
    however the command ends (work queued for a flow that never ran must not hold up the exit).
    """
    undo = None
    try:
        server = None
        if before is not None:
            server = EarlyServer.start_if_needed()
            undo = before(server is not None)
        with startup_time():
            if server is not None:
                server.wait()
            return command()
    except RuntimeError as e:
        if not did_not_start(e):
            raise
        print(HINT, file=sys.stderr)
        return 3
    finally:
        if undo is not None:
            undo()
