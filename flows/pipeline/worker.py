"""The CPU work for one clip, run in a worker process: decode, measure, prepare, store.

Deliberately free of Prefect and the database so worker processes start light.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio.types import Metrics, SourceInfo, Step
from flows.ledger import store
from flows.records import PreparedClip, Record


@dataclass(frozen=True)
class PreparedFile(Record):
    """What a worker process hands back for one clip: plain values, so it pickles cheaply; the
    ledger stores it by the generic conversion (`to_json`) like every other record."""

    source: SourceInfo
    source_metrics: Metrics  # with the source's DNSMOS when the chain scored it
    prepared_sha256: str  # the prepared WAV, in the content-addressed store
    metrics: Metrics
    steps: tuple[Step, ...]
    speech: tuple[tuple[float, float], ...]
    # The clip's main speaker, found here in the worker so the voice's check costs the flow nothing.
    embedding: tuple[float, ...]

    def clip(self, base: PreparedClip, source_sha256: str | None) -> PreparedClip:
        """`base` (voice, clip, path) prepared as this says."""
        return dataclasses.replace(
            base,
            source_sha256=source_sha256,
            prepared_sha256=self.prepared_sha256,
            metrics=self.metrics,
            source_metrics=self.source_metrics,
            steps=self.steps,
            speech=self.speech,
        )


def settings_dict(**overrides: Any) -> dict[str, Any]:
    from audio.chain import Settings

    return dataclasses.asdict(Settings(**overrides))


def warm_up() -> None:
    """Pay imports and JIT once per worker, not once per clip; one BLAS thread per worker process."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import numpy as np

    from audio.chain import Settings, prepare
    from audio.metrics import measure
    from audio.types import Audio

    rng = np.random.default_rng(0)
    tone = (0.1 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    noise = (0.001 * rng.standard_normal(16000)).astype(np.float32)
    clip = Audio(np.concatenate([noise, tone, noise]), 16000)
    with contextlib.suppress(Exception):
        measure(prepare(clip, Settings()).audio)


def prepare_file(path: str, settings: dict[str, Any], store_root: str) -> PreparedFile:
    """What was done and measured; the prepared WAV goes to the content-addressed store.

    audio.chain.prepare_file drops the decoded source after the first step, which keeps a
    30-minute 48 kHz stereo recording under 1 GB.
    """
    from audio import encode
    from audio.chain import Settings
    from audio.chain import prepare_file as prepare_path
    from audio.metrics import measure, with_quality, with_source_defects
    from audio.quality import Quality

    report = ProgressFile(progress_file(store_root, path))
    try:
        info, source_metrics, prepared = prepare_path(
            Path(path), Settings(**settings), progress=report
        )
    finally:
        report.remove()
    scored = next((s for s in prepared.steps if s.name == "quality"), None)
    if scored is not None:  # the source's DNSMOS, as the chain scored it before the first step
        source_metrics = with_quality(source_metrics, Quality(**scored.before))
    sha = store.put_written(
        lambda target: encode.write(prepared.audio, target, "wav"), "wav", Path(store_root)
    )
    return PreparedFile(
        source=info,
        source_metrics=source_metrics,
        prepared_sha256=sha,
        metrics=with_quality(
            with_source_defects(
                measure(prepared.audio, levels=prepared.levels, prob=prepared.prob),
                source_metrics,
            ),
            prepared.quality,
        ),
        steps=tuple(prepared.steps),
        speech=tuple((float(start), float(end)) for start, end in prepared.speech),
        embedding=_embedding(prepared),
    )


def progress_file(store_root: str, path: str) -> Path:
    """Where the worker preparing `path` says how far it is (read by the run's progress)."""
    import hashlib

    name = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:20]
    return Path(store_root).parent / "progress" / f"{name}.json"


class ProgressFile:
    """The chain's progress written to a small JSON file at most twice a second: the worker is
    another process, and the run (Prefect artifact, terminal bar) reads it from there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last = 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        import json
        import time

        now = time.monotonic()
        if now - self.last < 0.5 and fraction < 1.0:
            return
        self.last = now
        with contextlib.suppress(OSError):  # progress is a courtesy, never a failure
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"fraction": round(fraction, 3), "stage": stage}))
            os.replace(tmp, self.path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def read_progress(path: Path) -> tuple[float, str] | None:
    import json

    try:
        d = json.loads(path.read_text())
        return float(d["fraction"]), str(d["stage"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _embedding(prepared: Any) -> tuple[float, ...]:
    """The clip's main speaker: the centroid of its largest turn cluster when turns were found."""
    from audio.speaker import embed

    if prepared.turns is not None and prepared.turns.speakers:
        vector = prepared.turns.speakers[0].centroid
    else:
        vector = embed(prepared.audio, prepared.prob)
    return tuple(round(float(v), 6) for v in vector)
