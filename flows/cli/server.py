"""The temporary Prefect server that `voxclone run` starts when no PREFECT_API_URL is set.

Prefect waits 20 s for it by default; on a loaded 2-core machine that is not always enough, and
the failure was a traceback. Here it gets 120 s (unless the user chose a value), and if it still
does not start the user gets one line saying what to do instead.
"""

from __future__ import annotations

import sys
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


def run_with_server(command: Callable[[], int]) -> int:
    """Run a command that talks to Prefect; a server that never started is one line and exit 3."""
    try:
        with startup_time():
            return command()
    except RuntimeError as e:
        if not did_not_start(e):
            raise
        print(HINT, file=sys.stderr)
        return 3
