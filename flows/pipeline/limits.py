"""Each provider's concurrency cap, held across processes when clones run in more than one.

In one process the HTTP client's own semaphore (providers/http.py) is enough. When clone tasks run
in several processes — Dask workers, or several `voxclone serve` / worker processes taking
deployment runs — each process would allow the full cap, so the total could be a multiple of it.
Then a Prefect global concurrency limit named `provider:<name>` holds the cap for every process
talking to the same Prefect server. It is created on first use with the provider's cap
(`VOXCLONE_<PROVIDER>_CONCURRENCY`, default 4); an existing limit is left as the operator set it.

Which one applies is the run option `provider_limits` ("auto" | "process" | "server"); "auto"
picks "server" when the flow's task runner is not a thread pool (tasks live in other processes) or
the run was started by a deployment (other serve/worker processes may be running the same flow).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from providers.http import DEFAULT_CONCURRENCY
from providers.types import ProviderError

log = logging.getLogger("voxclone.limits")

_created: set[tuple[str, str]] = set()  # (API URL, limit name) known to exist
_created_lock = threading.Lock()


def limit_name(provider: str) -> str:
    return f"provider:{provider}"


def cap(provider: str) -> int:
    """The provider's cap, read the same way the HTTP client reads it."""
    raw = os.environ.get(f"VOXCLONE_{provider.upper()}_CONCURRENCY", "").strip()
    return int(float(raw)) if raw else DEFAULT_CONCURRENCY


def mode() -> str:
    """'server' or 'process' for the flow run this code is part of ('process' outside any run)."""
    if "prefect.context" not in sys.modules:  # no Prefect, no flow run: not worth importing it
        return "process"
    from prefect.context import FlowRunContext
    from prefect.task_runners import ThreadPoolTaskRunner

    ctx = FlowRunContext.get()
    if ctx is None:
        return "process"
    options: Any = (ctx.parameters or {}).get("options")
    chosen = (
        options.get("provider_limits")
        if isinstance(options, dict)
        else getattr(options, "provider_limits", None)
    ) or "auto"
    if chosen != "auto":
        return chosen
    in_other_processes = ctx.task_runner is not None and not isinstance(
        ctx.task_runner, ThreadPoolTaskRunner
    )
    from_deployment = ctx.flow_run is not None and ctx.flow_run.deployment_id is not None
    return "server" if in_other_processes or from_deployment else "process"


def ensure_limit(provider: str) -> str:
    """Create `provider:<name>` with the provider's cap unless it exists; returns its name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.settings import PREFECT_API_URL

    name = limit_name(provider)
    key = (str(PREFECT_API_URL.value()), name)
    with _created_lock:
        if key in _created:
            return name
        with get_client(sync_client=True) as client:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=cap(provider))
                )
                log.info("created global concurrency limit %s = %d", name, cap(provider))
            except ObjectAlreadyExists:
                pass
        _created.add(key)
    return name


@contextmanager
def provider_slot(provider: str) -> Iterator[None]:
    """Hold one of the provider's slots around a send; across processes when the run needs it.

    A slot that cannot be taken raises ProviderError before anything is sent, so the caller
    records a plain failure (safe to retry), never an unknown outcome.
    """
    if mode() != "server":
        yield
        return
    from prefect.concurrency.sync import concurrency

    try:
        name = ensure_limit(provider)
        slot = concurrency(name, occupy=1, strict=True, raise_on_lease_renewal_failure=False)
        slot.__enter__()
    except Exception as e:
        raise ProviderError(
            provider,
            f"not sent: could not take a slot of the Prefect global concurrency limit "
            f"'{limit_name(provider)}': {type(e).__name__}: {e}",
        ) from e
    try:
        yield
    finally:
        slot.__exit__(None, None, None)
