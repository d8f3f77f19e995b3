"""What a run has left to do, read from the ledger before any task is submitted.

Free of Prefect so `voxclone run` can work this out, and start preparing clips, while Prefect is
still being imported (see `flows.pipeline.cpu_pool`); the flow works it out again from the same
ledger and gets the same answer.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import providers
from audio.chain import PIPELINE_VERSION, Settings
from flows import ledger
from flows.pipeline.inbox import VoiceSpec
from flows.records import CloneCheck, CloneResult, CloneStatus, PreparedClip


def fingerprint(spec: VoiceSpec, provider: str, source_shas: list[str], settings_hash: str) -> str:
    """Everything that decides a voice × provider's answer: when it is unchanged, the answer is
    too. It holds what makes a new clone (the idempotency key's takes and options; see
    `same_voice`) and the fields the provider keeps, whose change the answer reports (`changed`)."""
    return ledger.stable_hash(
        [
            spec.slug,
            provider,
            providers.base_url_of(provider),
            spec.name,
            spec.language,
            spec.description,
            spec.gender,
            spec.options.get(provider, {}),
            sorted(source_shas),
            settings_hash,
        ]
    )


@dataclass
class Plan:
    hashes: dict[str, str | OSError]  # source path -> sha256, or why it cannot be read
    fingerprints: dict[tuple[str, str], str]  # (voice, provider) -> fingerprint
    answered: dict[tuple[str, str], CloneResult]  # settled earlier, inputs unchanged
    open_providers: dict[str, list[str]]  # voice -> providers still to clone on
    known: list[PreparedClip]  # clips of settled voices, straight from the ledger
    to_prepare: list[tuple[VoiceSpec, Path]]  # in voice order


def settings_hash(settings: Settings) -> str:
    """What the ledger keys a prepared clip on, with its source: the same settings and chain."""
    return ledger.stable_hash([dataclasses.asdict(settings), PIPELINE_VERSION])


@functools.cache
def code_version() -> str:
    """voxclone's version and, in a git checkout, its commit: stored with what it decided."""
    from importlib.metadata import version

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"voxclone {version('voxclone')}" + (f"+{sha}" if sha else "")


def plan(eng: Any, specs: list[VoiceSpec], providers: list[str], settings_hash: str) -> Plan:
    """Every voice × provider whose inputs are unchanged is answered from the ledger; the clips of
    the voices left open are to be prepared (the ledger may still have them)."""
    wanted = {
        s.slug: [p for p in providers if s.providers is None or p in s.providers] for s in specs
    }
    hashes = ledger.source_hashes(eng, [c for s in specs for c in s.clips])
    fingerprints = {
        (s.slug, p): fingerprint(s, p, shas_of(s, hashes), settings_hash)
        for s in specs
        for p in wanted[s.slug]
    }
    found = ledger.answers(eng, list(fingerprints.values()), code_version())
    answered = {pair: _answered(eng, found[fp]) for pair, fp in fingerprints.items() if fp in found}
    open_providers = {
        s.slug: [p for p in wanted[s.slug] if (s.slug, p) not in answered] for s in specs
    }
    known, to_prepare = _clips_known(eng, specs, open_providers, hashes, settings_hash)
    return Plan(hashes, fingerprints, answered, open_providers, known, to_prepare)


def _answered(eng: Any, result: CloneResult) -> CloneResult:
    """A settled result as a rerun shows it, with the voice's latest clone check (`voxclone
    check` may have heard its preview again since)."""
    if not result.voice_id:  # skipped
        return dataclasses.replace(result, answered_from_ledger=True)
    check = result.clone_check
    latest = ledger.clone_check(eng, result.provider, result.voice_id)
    if latest is not None:
        check = CloneCheck.from_dict(latest) if latest else None
    return dataclasses.replace(
        result, status=CloneStatus.EXISTS, answered_from_ledger=True, clone_check=check
    )


def shas_of(spec: VoiceSpec, hashes: dict[str, str | OSError]) -> list[str]:
    return [str(hashes.get(str(c))) for c in spec.clips]


def sha_of(hashes: dict[str, str | OSError], path: Path) -> str | None:
    sha = hashes.get(str(path))
    return sha if isinstance(sha, str) else None


def from_ledger(
    clip: PreparedClip, sha: str, row: dict[str, Any], source_metrics: dict | None
) -> PreparedClip:
    return PreparedClip.from_dict(
        {
            **clip.to_dict(),
            "source_sha256": sha,
            "reused": True,
            "prepared_sha256": row["sha256"],
            "metrics": row["metrics"],
            "source_metrics": source_metrics,
            "steps": row["steps"],
            "speech": row["speech"],
            "turns": row.get("turns"),
        }
    )


def _clips_known(
    eng: Any,
    specs: list[VoiceSpec],
    open_providers: dict[str, list[str]],
    hashes: dict[str, str | OSError],
    settings_hash: str,
) -> tuple[list[PreparedClip], list[tuple[VoiceSpec, Path]]]:
    """Clip records of settled voices straight from the ledger; the rest are to be prepared."""
    settled = [s for s in specs if not open_providers[s.slug]]
    rows = ledger.find_prepared_many(
        eng, [sha_of(hashes, c) or "" for s in settled for c in s.clips], settings_hash
    )
    known, to_prepare = [], []
    for spec in specs:
        for path in spec.clips:
            row = rows.get(sha_of(hashes, path) or "") if not open_providers[spec.slug] else None
            if row is None:
                to_prepare.append((spec, path))
                continue
            clip = PreparedClip(spec.slug, path.name, str(path))
            known.append(from_ledger(clip, row["source_sha256"], row, row.get("source_metrics")))
    return known, to_prepare
