"""The lineage SQL: rows for sources, prepared clips, takes, runs, answers and clone checks, and
reading them back from a voice id (the typed records themselves are in flows/records.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flows.ledger import store
from flows.ledger.claims import now
from flows.ledger.schema import answers as answers_table
from flows.ledger.schema import (
    clone_attempts,
    clone_checks,
    prepared,
    provider_voices,
    runs,
    source_files,
    sources,
    speaker_checks,
    takes,
)
from flows.records import CloneResult, StoredTake

# --- sources, prepared clips, takes ---------------------------------------------------------


def record_source(eng: sa.Engine, row: dict[str, Any]) -> None:
    """Insert-or-ignore: two tasks preparing the same file at once (the same clip in two voices,
    or a rerun racing a run) both record it, and the second must not fail on the unique key."""
    insert = _insert_ignoring_conflicts(eng, sources, ["sha256", "path"])
    with eng.begin() as c:
        c.execute(insert.values(first_seen=now(), **row))


def _insert_ignoring_conflicts(eng: sa.Engine, table: sa.Table, key: list[str]) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING, in the dialect's own words."""
    if eng.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=key)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing(index_elements=key)


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


def find_prepared_many(
    eng: sa.Engine, source_shas: list[str], settings_hash: str
) -> dict[str, dict[str, Any]]:
    """Prepared rows by source sha, each with its source's metrics, in a few queries."""
    out: dict[str, dict[str, Any]] = {}
    with eng.connect() as c:
        for chunk in _chunks(sorted(set(source_shas))):
            for r in c.execute(
                sa.select(prepared).where(
                    prepared.c.source_sha256.in_(chunk), prepared.c.settings_hash == settings_hash
                )
            ):
                out[r.source_sha256] = dict(r._mapping)
            for r in c.execute(
                sa.select(sources.c.sha256, sources.c.metrics).where(sources.c.sha256.in_(chunk))
            ):
                if r.sha256 in out:
                    out[r.sha256]["source_metrics"] = r.metrics
    return out


def record_prepared(eng: sa.Engine, row: dict[str, Any]) -> None:
    with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
        c.execute(prepared.insert().values(created_at=now(), **row))


def record_speaker_checks(
    eng: sa.Engine, flow_run_id: str, voice: str, rows: list[dict[str, Any]]
) -> None:
    """Rows of prepared_sha256, similarity, excluded, reason: what this run decided for a voice."""
    if not rows:
        return
    t = now()
    with eng.begin() as c:
        c.execute(
            speaker_checks.insert(),
            [{"flow_run_id": flow_run_id, "voice": voice, "created_at": t, **r} for r in rows],
        )


def record_clone_check(
    eng: sa.Engine,
    provider: str,
    voice: str,
    voice_id: str | None,
    check: dict[str, Any],
    flow_run_id: str | None,
) -> None:
    """One clone check (flows.records.CloneCheck as a dict); no key or URL is in it."""
    with eng.begin() as c:
        c.execute(
            clone_checks.insert().values(
                provider=provider,
                voice=voice,
                voice_id=voice_id,
                flow_run_id=flow_run_id,
                verdict=check["verdict"],
                similarity=check.get("similarity"),
                ovrl=check.get("ovrl"),
                check=check,
                created_at=now(),
            )
        )


def clone_check(eng: sa.Engine, provider: str, voice_id: str) -> dict[str, Any] | None:
    """The latest check of a provider voice, or None when it was never checked."""
    with eng.connect() as c:
        row = c.execute(
            sa.select(clone_checks.c.check)
            .where(clone_checks.c.provider == provider, clone_checks.c.voice_id == voice_id)
            .order_by(clone_checks.c.id.desc())
            .limit(1)
        ).first()
    return dict(row[0]) if row else None


def voice_attempt(eng: sa.Engine, provider: str, voice_id: str) -> dict[str, Any] | None:
    """The clone attempt that made a provider voice: its takes and the base URL it went to."""
    with eng.connect() as c:
        row = c.execute(
            sa.select(clone_attempts)
            .join(provider_voices, clone_attempts.c.key == provider_voices.c.attempt_key)
            .where(provider_voices.c.provider == provider, provider_voices.c.voice_id == voice_id)
        ).first()
    return dict(row._mapping) if row else None


def record_take(eng: sa.Engine, take: StoredTake, provider: str, voice: str) -> None:
    row = {**take.to_dict(), "provider": provider, "voice": voice}
    del row["duration_s"]  # the ledger derives it from the metrics
    with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
        c.execute(takes.insert().values(created_at=now(), **row))


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
        found = c.execute(
            sa.select(provider_voices).where(provider_voices.c.voice_id == voice_id)
        ).first()
        if not found:
            return None
        voice = dict(found._mapping)
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
        shown = [col for col in prepared.c if col.name != "turns"]  # the speakers step has them
        clips = [
            dict(r._mapping)
            for r in c.execute(sa.select(*shown).where(prepared.c.sha256.in_(clip_shas)))
        ]
        checks = {
            r.prepared_sha256: {
                "similarity": r.similarity,
                "excluded": r.excluded,
                "turns": r.turns,
            }
            for r in c.execute(
                sa.select(speaker_checks)
                .where(
                    speaker_checks.c.prepared_sha256.in_(clip_shas),
                    speaker_checks.c.voice == att["voice"],
                )
                .order_by(speaker_checks.c.id)
            )
        }
        clips = [{**clip, "speaker_check": checks.get(clip["sha256"])} for clip in clips]
        source_shas = {clip["source_sha256"] for clip in clips}
        src = [
            dict(r._mapping)
            for r in c.execute(sa.select(sources).where(sources.c.sha256.in_(source_shas)))
        ]
    return {"voice": voice, "attempt": att, "takes": take_rows, "clips": clips, "sources": src}


# --- what makes a no-op rerun cheap ---------------------------------------------------------


def _chunks(items: list, n: int = 500) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def source_hashes(eng: sa.Engine, paths: list[Path]) -> dict[str, str | OSError]:
    """sha256 per path, read from the ledger when (size, mtime_ns) are unchanged, else hashed now.

    A file that cannot be read maps to its OSError, so the caller can name it and go on.
    """
    stats: dict[str, os.stat_result | OSError] = {}
    for p in paths:
        try:
            stats[str(p)] = p.stat()
        except OSError as e:
            stats[str(p)] = e
    known: dict[str, tuple[int, int, str]] = {}
    with eng.connect() as c:
        for chunk in _chunks(list(stats)):
            for r in c.execute(sa.select(source_files).where(source_files.c.path.in_(chunk))):
                known[r.path] = (r.size, r.mtime_ns, r.sha256)
    out: dict[str, str | OSError] = {}
    fresh = []
    for path, st in stats.items():
        if isinstance(st, OSError):
            out[path] = st
            continue
        hit = known.get(path)
        if hit and hit[:2] == (st.st_size, st.st_mtime_ns):
            out[path] = hit[2]
            continue
        try:
            out[path] = store.sha256_file(Path(path))
        except OSError as e:
            out[path] = e
            continue
        fresh.append(
            {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": out[path]}
        )
    if fresh:
        with eng.begin() as c:
            c.execute(
                source_files.delete().where(source_files.c.path.in_([f["path"] for f in fresh]))
            )
            c.execute(source_files.insert(), [{**f, "seen_at": now()} for f in fresh])
    return out


def answers(eng: sa.Engine, fingerprints: list[str], code_version: str) -> dict[str, CloneResult]:
    """Settled results by fingerprint: a voice only while the provider voice it names is still
    recorded, a skip only when this `code_version` judged it (the rules may have changed)."""
    found: dict[str, CloneResult] = {}
    voice_known = sa.and_(
        provider_voices.c.provider == answers_table.c.provider,
        provider_voices.c.voice_id == answers_table.c.voice_id,
    )
    skipped_here = sa.and_(
        answers_table.c.voice_id.is_(None), answers_table.c.code_version == code_version
    )
    with eng.connect() as c:
        for chunk in _chunks(fingerprints):
            query = (
                sa.select(answers_table.c.fingerprint, answers_table.c.result)
                .outerjoin(provider_voices, voice_known)
                .where(
                    answers_table.c.fingerprint.in_(chunk),
                    sa.or_(provider_voices.c.id.is_not(None), skipped_here),
                )
            )
            found.update({r.fingerprint: CloneResult.from_dict(r.result) for r in c.execute(query)})
    return found


def record_answer(
    eng: sa.Engine, fingerprint: str, result: CloneResult, code_version: str | None = None
) -> None:
    """The settled result for `fingerprint`, replacing an earlier one (a skip judged by an older
    version, say); `code_version` is what judged a skip."""
    with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
        c.execute(answers_table.delete().where(answers_table.c.fingerprint == fingerprint))
        c.execute(
            answers_table.insert().values(
                fingerprint=fingerprint,
                voice=result.voice,
                provider=result.provider,
                voice_id=result.voice_id,
                result=result.to_dict(),
                created_at=now(),
                code_version=code_version,
            )
        )


def last_report(eng: sa.Engine) -> str | None:
    with eng.connect() as c:
        row = c.execute(
            sa.select(runs.c.report_path)
            .where(runs.c.report_path.is_not(None))
            .order_by(runs.c.finished_at.desc())
            .limit(1)
        ).first()
    return row[0] if row else None
