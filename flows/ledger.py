"""The ledger: lineage records and the exactly-once protocol for clone requests.

A clone request is preceded by an intent row keyed by hash(provider, base URL, name, takes, options).
Whoever inserts the row owns the request. A row left `pending` by a dead owner is taken over and
reconciled against the provider before anything is sent again; a `succeeded` row is never sent again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from flows import config
from flows.ledger_schema import clone_attempts, prepared, provider_voices, runs, sources, takes

MIGRATIONS = Path(__file__).parent / "migrations"
# A pending row whose owner lives on another host is trusted for this long before it counts as orphaned.
FOREIGN_LEASE = timedelta(minutes=30)


def now() -> datetime:
    return datetime.now(UTC)


def stable_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# --- connection and schema ------------------------------------------------------------------


def engine(url: str | None = None) -> sa.Engine:
    """One migrated engine per URL per process; the URL is read from the environment each call."""
    return _engine(url or config.db_url())


@cache
def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        eng = sa.create_engine(url, connect_args={"timeout": 60})
        sa.event.listen(eng, "connect", _sqlite_pragmas)
    else:
        eng = sa.create_engine(url, pool_pre_ping=True)
    migrate(eng)
    return eng


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(eng: sa.Engine) -> None:
    """Upgrade to head under a lock, so two runs starting together do not both create tables."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(eng), eng.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


@contextlib.contextmanager
def _migration_lock(eng: sa.Engine) -> Iterator[None]:
    if eng.dialect.name == "postgresql":
        with eng.connect() as c:
            c.execute(sa.text("SELECT pg_advisory_lock(7130001)"))
            try:
                yield
            finally:
                c.execute(sa.text("SELECT pg_advisory_unlock(7130001)"))
                c.commit()
    elif eng.dialect.name == "sqlite" and eng.url.database not in (None, "", ":memory:"):
        with open(f"{eng.url.database}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
    else:
        yield


# --- ownership ------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@cache
def owner_id() -> str:
    """host:pid:start — the start time guards against a recycled pid."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str, updated_at: datetime) -> bool:
    host, pid, start = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return now() - _aware(updated_at) < FOREIGN_LEASE
    return _start_time(int(pid)) == start


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# --- sources, prepared clips, takes ---------------------------------------------------------


def record_source(eng: sa.Engine, row: dict[str, Any]) -> None:
    with eng.begin() as c:
        exists = c.execute(
            sa.select(sources.c.id).where(
                sources.c.sha256 == row["sha256"], sources.c.path == row["path"]
            )
        ).first()
        if not exists:
            c.execute(sources.insert().values(first_seen=now(), **row))


def source_metrics(eng: sa.Engine, sha: str) -> dict[str, Any] | None:
    with eng.connect() as c:
        row = c.execute(sa.select(sources.c.metrics).where(sources.c.sha256 == sha)).first()
    return row[0] if row else None


def voice(eng: sa.Engine, provider: str, voice_id: str) -> dict[str, Any] | None:
    with eng.connect() as c:
        row = c.execute(
            sa.select(provider_voices).where(
                provider_voices.c.provider == provider, provider_voices.c.voice_id == voice_id
            )
        ).first()
    return dict(row._mapping) if row else None


def find_prepared(eng: sa.Engine, source_sha: str, settings_hash: str) -> dict[str, Any] | None:
    with eng.connect() as c:
        row = c.execute(
            sa.select(prepared).where(
                prepared.c.source_sha256 == source_sha, prepared.c.settings_hash == settings_hash
            )
        ).first()
    return dict(row._mapping) if row else None


def record_prepared(eng: sa.Engine, row: dict[str, Any]) -> None:
    with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
        c.execute(prepared.insert().values(created_at=now(), **row))


def record_take(eng: sa.Engine, row: dict[str, Any]) -> None:
    with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
        c.execute(takes.insert().values(created_at=now(), **row))


# --- the clone protocol ---------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What the caller may do with a clone request.

    send: we own it and nothing was ever sent. reconcile: we own it, but an earlier owner may
    have sent it; look the voice up first. done/busy/held: do not send.
    """

    action: Literal["send", "reconcile", "done", "busy", "held"]
    row: dict[str, Any]


def idempotency_key(
    provider: str, base_url: str, voice_name: str, take_hashes: list[str], options: dict
) -> str:
    return stable_hash([provider, base_url.rstrip("/"), voice_name, take_hashes, options])


def claim(eng: sa.Engine, intent: dict[str, Any], *, force: bool = False) -> Claim:
    """Insert the intent row or decide, from the row already there, whether we may send."""
    me = owner_id()
    for _ in range(5):
        inserted = False
        with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
            t = now()
            c.execute(
                clone_attempts.insert().values(
                    status="pending", owner=me, tries=1, created_at=t, updated_at=t, **intent
                )
            )
            inserted = True
        row = attempt(eng, intent["key"])
        if inserted:
            return Claim("send", row)
        status = row["status"]
        if status == "succeeded":
            return Claim("done", row)
        if status == "pending" and owner_alive(row["owner"], row["updated_at"]):
            return Claim("busy", row)
        if status == "held" and not force:
            return Claim("held", row)
        # failed, orphaned pending, or held with --force: take over with a compare-and-swap.
        with eng.begin() as c:
            taken = c.execute(
                clone_attempts.update()
                .where(
                    clone_attempts.c.key == row["key"],
                    clone_attempts.c.status == status,
                    clone_attempts.c.owner == row["owner"],
                    clone_attempts.c.tries == row["tries"],
                )
                .values(
                    status="pending",
                    owner=me,
                    tries=row["tries"] + 1,
                    updated_at=now(),
                    error=row["error"],
                    request=intent["request"],
                    verdict=intent.get("verdict"),
                )
            ).rowcount
        if taken == 1:
            action = (
                "send"
                if status == "failed" and row.get("provider_voice_id") is None
                else "reconcile"
            )
            return Claim(action, attempt(eng, row["key"]))
    raise RuntimeError(f"could not claim clone attempt {intent['key'][:12]}: too much contention")


def attempt(eng: sa.Engine, key: str) -> dict[str, Any]:
    with eng.connect() as c:
        return dict(
            c.execute(sa.select(clone_attempts).where(clone_attempts.c.key == key)).one()._mapping
        )


def complete(eng: sa.Engine, key: str, voice: dict[str, Any], flow_run_id: str | None) -> None:
    """Record the provider voice and mark the attempt succeeded, in one transaction."""
    t = now()
    with eng.begin() as c:
        known = c.execute(
            sa.select(provider_voices.c.id).where(
                provider_voices.c.provider == voice["provider"],
                provider_voices.c.voice_id == voice["voice_id"],
            )
        ).first()
        if not known:
            c.execute(
                provider_voices.insert().values(
                    attempt_key=key, flow_run_id=flow_run_id, created_at=t, **voice
                )
            )
        c.execute(
            clone_attempts.update()
            .where(clone_attempts.c.key == key)
            .values(
                status="succeeded",
                provider_voice_id=voice["voice_id"],
                flow_run_id=flow_run_id,
                error=None,
                updated_at=t,
            )
        )


def finish(eng: sa.Engine, key: str, status: Literal["failed", "held"], error: str) -> None:
    with eng.begin() as c:
        c.execute(
            clone_attempts.update()
            .where(clone_attempts.c.key == key)
            .values(status=status, error=error, updated_at=now())
        )


def known_voice_ids(eng: sa.Engine, provider: str) -> set[str]:
    with eng.connect() as c:
        rows = c.execute(
            sa.select(provider_voices.c.voice_id).where(provider_voices.c.provider == provider)
        )
        return {r[0] for r in rows}


# --- runs and reading back ------------------------------------------------------------------


def start_run(eng: sa.Engine, flow_run_id: str, inbox: str, providers: list[str]) -> None:
    with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
        c.execute(
            runs.insert().values(
                flow_run_id=flow_run_id, started_at=now(), inbox=inbox, providers=providers
            )
        )


def finish_run(eng: sa.Engine, flow_run_id: str, report_path: str | None, summary: dict) -> None:
    with eng.begin() as c:
        c.execute(
            runs.update()
            .where(runs.c.flow_run_id == flow_run_id)
            .values(finished_at=now(), report_path=report_path, summary=summary)
        )


def voices(eng: sa.Engine, provider: str | None = None) -> list[dict[str, Any]]:
    query = (
        sa.select(
            provider_voices.c.provider,
            provider_voices.c.voice_id,
            provider_voices.c.name,
            provider_voices.c.preview_url,
            provider_voices.c.created_at,
            clone_attempts.c.voice,
        )
        .join(clone_attempts, clone_attempts.c.key == provider_voices.c.attempt_key)
        .order_by(provider_voices.c.provider, provider_voices.c.created_at)
    )
    if provider:
        query = query.where(provider_voices.c.provider == provider)
    with eng.connect() as c:
        return [dict(r._mapping) for r in c.execute(query)]


def lineage(eng: sa.Engine, voice_id: str) -> dict[str, Any] | None:
    """From a provider voice id back to the request, the takes, the processing and the source bytes."""
    with eng.connect() as c:
        voice = c.execute(
            sa.select(provider_voices).where(provider_voices.c.voice_id == voice_id)
        ).first()
        if not voice:
            return None
        voice = dict(voice._mapping)
        att = dict(
            c.execute(sa.select(clone_attempts).where(clone_attempts.c.key == voice["attempt_key"]))
            .one()
            ._mapping
        )
        take_rows = []
        for sha in att["take_hashes"]:
            take = c.execute(
                sa.select(takes).where(
                    takes.c.sha256 == sha,
                    takes.c.provider == att["provider"],
                    takes.c.voice == att["voice"],
                )
            ).first()
            take_rows.append(dict(take._mapping) if take else {"sha256": sha})
        clip_shas = {p["prepared_sha256"] for t in take_rows for p in t.get("parts", [])}
        clips = [
            dict(r._mapping)
            for r in c.execute(sa.select(prepared).where(prepared.c.sha256.in_(clip_shas)))
        ]
        source_shas = {clip["source_sha256"] for clip in clips}
        src = [
            dict(r._mapping)
            for r in c.execute(sa.select(sources).where(sources.c.sha256.in_(source_shas)))
        ]
    return {"voice": voice, "attempt": att, "takes": take_rows, "clips": clips, "sources": src}
