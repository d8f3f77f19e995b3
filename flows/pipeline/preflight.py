"""What is looked at once per run before sending what the ledger cannot vouch for.

Every clone task of a run that is about to create a voice the ledger does not know asks the same
two questions: which voices does this provider already hold (one listing per provider per run,
shared by the run's tasks in this process), and, for a provider that cannot list, can this ledger
vouch for the data dir's past (read once per run). A failed listing is remembered for the run too,
so a provider that is down is not asked again by every voice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import providers
from flows.ledger import familiar
from providers.types import ClonedVoice, ProviderError

_KEEP_RUNS = 4  # a `serve` process runs one flow after another: forget old runs
_lock = threading.Lock()
_runs: OrderedDict[str, dict[Any, _Once]] = OrderedDict()


class _Once:
    """One value computed by the first caller; the others wait for it (or for its error)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None

    def get(self, compute: Any) -> Any:
        with self.lock:
            if not self.done:
                try:
                    self.value = compute()
                except ProviderError as e:
                    self.error = e
                self.done = True
        if self.error is not None:
            raise self.error
        return self.value


def _once(run_id: str | None, key: Any) -> _Once:
    if run_id is None:
        return _Once()  # no run to share it with
    with _lock:
        entries = _runs.setdefault(run_id, {})
        _runs.move_to_end(run_id)
        while len(_runs) > _KEEP_RUNS:
            _runs.popitem(last=False)
        return entries.setdefault(key, _Once())


def provider_voices(run_id: str | None, provider: str, client: Any) -> list[ClonedVoice] | None:
    """The voices `provider` lists for this key at this base URL, read once per run; None when it
    documents no listing. Raises the listing's ProviderError (to every caller of the run)."""
    module = providers.get(provider)
    once = _once(run_id, ("voices", provider, client.base_url))
    return once.get(lambda: module.list_voices(client))


def unfamiliar_ledger(
    run_id: str | None, eng: sa.Engine, store_root: Path, *, accept: bool
) -> str | None:
    """Why the ledger cannot vouch for this data dir's past (see `flows.ledger.familiar`), read
    once per run; with `accept` (--accept-new-ledger) the ledger is accepted instead, for good."""

    def judge() -> str | None:
        why = familiar.unfamiliar(eng, store_root)
        if why and accept:
            familiar.accept(eng, run_id, why)
            return None
        return why

    return _once(run_id, ("unfamiliar", str(eng.url), str(store_root), accept)).get(judge)
