"""Whether this ledger can vouch for what was sent before it: the guard for providers that cannot
list voices.

Where a provider lists voices, a voice × provider the ledger does not know is looked up there
before it is created. Callers.ai cannot be asked, so the ledger's word is all there is; a ledger
that is newer than the data dir's store (emptied, lost, restored from an old backup, pointed at a
new database) may have forgotten a voice that exists, and a send could pay for it twice.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from flows.ledger.claims import now
from flows.ledger.database import where
from flows.ledger.schema import ledger_notes, runs, source_files

ACCEPTED = "accepted_new_ledger"
# A run records the sources it hashed before it writes anything into the store, so a store file
# older than a ledger's first record is from before that ledger. File times come from the kernel's
# coarse clock (a tick behind the ledger's): a file counts as older only by more than this. At 5 s
# a rerun within seconds of the run before an emptied ledger passed as familiar (Callers twice).
SLACK = timedelta(seconds=1)


def first_record(eng: sa.Engine) -> datetime | None:
    """When this ledger began: its first run, or the first source it hashed (`voxclone run` hashes
    the inbox, and starts preparing clips into the store, before the flow records its run)."""
    with eng.connect() as c:
        times = [
            c.execute(sa.select(sa.func.min(runs.c.started_at))).scalar(),
            c.execute(sa.select(sa.func.min(source_files.c.seen_at))).scalar(),
        ]
    known = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in times if t is not None]
    return min(known) if known else None


def older_file(root: Path, before: datetime | None) -> tuple[Path, datetime] | None:
    """A file in the store written before `before` (any file when None); stops at the first."""
    cutoff = before.timestamp() if before else float("inf")
    try:
        shards = list(os.scandir(root))
    except OSError:
        return None  # no store: nothing was prepared here before this ledger
    for shard in shards:
        if not shard.is_dir():
            continue
        for entry in os.scandir(shard.path):
            mtime = entry.stat().st_mtime
            if entry.is_file() and mtime < cutoff:
                return Path(entry.path), datetime.fromtimestamp(mtime, UTC)
    return None


def unfamiliar(eng: sa.Engine, store_root: Path) -> str | None:
    """Why this ledger cannot vouch for what was sent from this data dir before it, or None.

    A ledger is unfamiliar when the store holds audio from before the ledger's first record
    (an empty ledger beside an old store included), unless a run accepted it. A fresh data dir
    (no store yet) is not: there is nothing to have forgotten.
    """
    if accepted(eng):
        return None
    began = first_record(eng)
    cutoff = began - SLACK if began else None
    found = older_file(store_root, cutoff)
    if found is None:
        return None
    path, written = found
    since = f"began {began:%Y-%m-%d %H:%M:%S} UTC" if began else "holds no runs"
    return (
        f"the ledger {where(eng)} is newer than the store {store_root} (the ledger {since}; "
        f"{path.name} was written {written:%Y-%m-%d %H:%M:%S} UTC): it may have lost voices "
        "created before it"
    )


def accepted(eng: sa.Engine) -> bool:
    with eng.connect() as c:
        return (
            c.execute(sa.select(ledger_notes.c.name).where(ledger_notes.c.name == ACCEPTED)).first()
            is not None
        )


def accept(eng: sa.Engine, flow_run_id: str | None, reason: str) -> None:
    """Record that a run accepted this ledger as the record of this data dir (--accept-new-ledger),
    so later runs do not ask again."""
    value = {"flow_run_id": flow_run_id, "reason": reason, "at": now().isoformat()}
    with eng.begin() as c:
        c.execute(ledger_notes.delete().where(ledger_notes.c.name == ACCEPTED))
        c.execute(ledger_notes.insert().values(name=ACCEPTED, value=value, updated_at=now()))
