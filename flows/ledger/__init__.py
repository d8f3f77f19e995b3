"""The ledger: the system of record for sources, prepared clips, takes, clone attempts and voices.

`database` connects and migrates; `claims` is the exactly-once protocol for clone requests; `records`
writes and reads lineage; `store` keeps audio content-addressed on disk.
"""

from flows.ledger.claims import (
    Claim,
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
)
from flows.ledger.database import engine, migrate
from flows.ledger.records import (
    answers,
    find_prepared,
    find_prepared_many,
    finish_run,
    last_report,
    lineage,
    record_answer,
    record_prepared,
    record_source,
    record_take,
    source_hashes,
    source_metrics,
    start_run,
    voice,
    voices,
)

__all__ = [
    "Claim",
    "answers",
    "attempt",
    "claim",
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
    "record_answer",
    "record_prepared",
    "record_source",
    "record_take",
    "source_hashes",
    "source_metrics",
    "stable_hash",
    "start_run",
    "voice",
    "voices",
]
