"""Lineage records: sources, prepared clips, takes, runs, and reading them back from a voice id."""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa

from flows.ledger.claims import now
from flows.ledger.schema import clone_attempts, prepared, provider_voices, runs, sources, takes

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
