"""The CPU work for one clip, run in a worker process: decode, measure, prepare, store.

Deliberately free of Prefect and the database so worker processes start light.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from audio.types import AudioError
from flows.ledger import store
from flows.records import PreparedClip

if TYPE_CHECKING:
    import numpy as np

    from audio.chain import Prepared, Settings
    from audio.speaker import ClipSpeakers
    from audio.types import Audio


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


class NoSpeaker(AudioError):
    """A file taken as a voice of its own has no speaker to keep: its caller says how to choose
    one."""


def prepare_file(
    path: str,
    settings: Settings,
    store_root: str,
    *,
    alone: Sequence[str] | None = None,
    fmt: str = "wav",
    progress: Callable[[float, str], None] | None = None,
    max_bytes: int | None = None,
    max_duration_s: float | None = None,
) -> PreparedClip:
    """The clip's record: what was done and measured, the prepared audio in the
    content-addressed store as `fmt`. Its `voice` is the caller's to fill (one source may be a
    clip of several voices).

    `alone` (`voxclone prepare`): the file is a voice of its own, whose speaker (the one with
    the most speech, or the one of these reference recordings) is chosen as the flow chooses a
    voice's; every other speaker's turns are cut out before it is stored and measured. In the
    flow the voice's speaker is chosen later, across all its clips (cloning.check_speakers).

    Progress goes to `progress`, or to the file the run reads (`progress_file`).
    audio.chain.prepare_file drops the decoded source after the first step, which keeps a
    30-minute 48 kHz stereo recording under 1 GB.
    """
    from audio import encode
    from audio.chain import prepare_file as prepare_path
    from audio.metrics import measure, with_quality, with_source_defects
    from audio.quality import Quality

    report = ProgressFile(progress_file(store_root, path))
    try:
        info, source_metrics, prepared = prepare_path(
            Path(path),
            settings,
            max_bytes=max_bytes,
            max_duration_s=max_duration_s,
            progress=progress or report,
        )
    finally:
        report.remove()
    scored = next((s for s in prepared.steps if s.name == "quality"), None)
    if scored is not None:  # the source's DNSMOS, as the chain scored it before the first step
        source_metrics = with_quality(source_metrics, Quality(**scored.before))
    speakers, levels, prob = None, prepared.levels, prepared.prob
    if alone is not None and prepared.turns is not None:
        speakers, cut, prob = _alone(path, prepared, alone)
        if cut is not prepared.audio:
            levels = None  # measured on the clip before the cut
        prepared.audio = cut  # the clip before the cut is not needed again (an hour is 0.6 GB)
    audio = prepared.audio
    sha = store.put_written(lambda target: encode.write(audio, target, fmt), fmt, Path(store_root))
    measured = measure(audio, levels=levels, prob=prob)
    return PreparedClip(
        voice="",
        clip=Path(path).name,
        path=path,
        source_metrics=source_metrics,
        prepared_sha256=sha,
        metrics=with_quality(with_source_defects(measured, source_metrics), prepared.quality),
        steps=tuple(prepared.steps),
        speech=tuple((float(start), float(end)) for start, end in prepared.speech),
        speakers=speakers,
        turns=prepared.turns,
        source=info,
    )


def _alone(
    path: str, prepared: Prepared, reference: Sequence[str]
) -> tuple[ClipSpeakers, Audio, np.ndarray | None]:
    """The file's own speaker (flows.pipeline.speakers.choose, as for a voice of the flow), the
    clip with only that speaker's turns (cut in its own buffer, at pauses), and Silero's output
    carried onto the cut."""
    from audio.takes import Clip, without_removed
    from flows.pipeline import speakers

    assert prepared.turns is not None
    voice = speakers.choose([prepared.turns], reference)
    if voice.failure:
        raise NoSpeaker(path, voice.failure)
    check = voice.clips[0]
    if check.excluded:
        raise AudioError(path, check.reason or "none of the chosen speaker's speech")
    speech, cut = list(prepared.speech), speakers.removed(check)
    clip = Clip(path, prepared.audio, speech, None, cut)  # type: ignore[arg-type]  # not measured
    audio, prob = without_removed(clip, prepared.prob, in_place=True)
    return check, audio, prob


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
