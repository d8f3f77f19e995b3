"""The ledger: the system of record for sources, prepared clips, takes, clone attempts and voices.

`database` connects and migrates; `claims` is the exactly-once protocol for clone requests; `lineage_sql`
writes and reads lineage; `store` keeps audio content-addressed on disk.
"""

# Names resolve on first use (PEP 562): `from flows.ledger import store` in a worker process must
# not import SQLAlchemy and Alembic, which only the flow's process needs.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.ledger.claims import (
        Claim,
        Hold,
        attempt,
        claim,
        complete,
        finish,
        idempotency_key,
        known_voice_ids,
        now,
        owner_alive,
        owner_id,
        stable_hash,
        succeeded,
    )
    from flows.ledger.database import (
        checkpoint,
        engine,
        migrate,
        quick_check,
        reader,
        where,
    )
    from flows.ledger.errors import LedgerError
    from flows.ledger.lineage_sql import (
        answers,
        clone_check,
        find_prepared,
        find_prepared_many,
        finish_run,
        last_report,
        lineage,
        record_answer,
        record_clone_check,
        record_prepared,
        record_source,
        record_speaker_checks,
        record_take,
        source_hashes,
        source_metrics,
        start_run,
        voice,
        voice_attempt,
        voices,
    )

_MODULE_OF = {
    "Claim": "claims",
    "Hold": "claims",
    "LedgerError": "errors",
    "checkpoint": "database",
    "quick_check": "database",
    "reader": "database",
    "where": "database",
    "attempt": "claims",
    "claim": "claims",
    "complete": "claims",
    "finish": "claims",
    "idempotency_key": "claims",
    "known_voice_ids": "claims",
    "now": "claims",
    "owner_alive": "claims",
    "owner_id": "claims",
    "stable_hash": "claims",
    "succeeded": "claims",
    "engine": "database",
    "migrate": "database",
    "answers": "lineage_sql",
    "clone_check": "lineage_sql",
    "record_clone_check": "lineage_sql",
    "find_prepared": "lineage_sql",
    "find_prepared_many": "lineage_sql",
    "finish_run": "lineage_sql",
    "last_report": "lineage_sql",
    "lineage": "lineage_sql",
    "record_answer": "lineage_sql",
    "record_prepared": "lineage_sql",
    "record_source": "lineage_sql",
    "record_speaker_checks": "lineage_sql",
    "record_take": "lineage_sql",
    "source_hashes": "lineage_sql",
    "source_metrics": "lineage_sql",
    "start_run": "lineage_sql",
    "voice": "lineage_sql",
    "voice_attempt": "lineage_sql",
    "voices": "lineage_sql",
}

__all__ = [
    "Claim",
    "Hold",
    "LedgerError",
    "answers",
    "attempt",
    "checkpoint",
    "claim",
    "clone_check",
    "complete",
    "engine",
    "find_prepared",
    "find_prepared_many",
    "finish",
    "finish_run",
    "idempotency_key",
    "known_voice_ids",
    "last_report",
    "lineage",
    "migrate",
    "now",
    "owner_alive",
    "owner_id",
    "quick_check",
    "reader",
    "record_answer",
    "record_clone_check",
    "record_prepared",
    "record_source",
    "record_speaker_checks",
    "record_take",
    "source_hashes",
    "source_metrics",
    "stable_hash",
    "start_run",
    "succeeded",
    "voice",
    "voice_attempt",
    "voices",
    "where",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
