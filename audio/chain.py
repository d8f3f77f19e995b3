"""The preparation chain: highpass -> resample -> denoise(auto) -> trim/pauses -> loudness."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from audio import loudness, steps
from audio.types import Audio, AudioError, Metrics, SourceInfo, Step


@dataclass(frozen=True)
class Settings:
    target_rate: int = 44100
    target_lufs: float = -20.0
    ceiling_dbtp: float = -3.0
    denoise: str = "auto"  # auto | always | never
    snr_threshold_db: float = 20.0
    pad_s: float = 0.15
    max_pause_s: float = 1.0
    pause_to_s: float = 0.5
    highpass_hz: float = 70.0
    resample_quality: str = "HQ"
    max_limit_db: float = 4.0  # peak limiting beyond this audibly squashes the voice


@dataclass
class Prepared:
    audio: Audio
    steps: list[Step] = field(default_factory=list)
    speech: list[tuple[float, float]] = field(default_factory=list)  # seconds, on `audio`
    levels: loudness.Levels | None = None  # of `audio`, from the loudness step (no re-measure)


MIN_DURATION_S = 0.5


def prepare(audio: Audio, settings: Settings = Settings()) -> Prepared:
    """Run the whole chain; AudioError when the clip is too short or has no speech."""
    return _run([audio], settings, owned=False)


def prepare_file(
    path: str | os.PathLike[str],
    settings: Settings = Settings(),
    *,
    max_bytes: int | None = None,
    max_duration_s: float | None = None,
) -> tuple[SourceInfo, Metrics, Prepared]:
    """Decode, measure the source, and prepare, without keeping the decoded source alive.

    For long inputs this is the memory-lean path: the source is released after the first step,
    so a 30-minute 48 kHz stereo file stays well under 1 GB peak.
    """
    from audio import decode as decode_module
    from audio.metrics import measure

    caps: dict[str, float] = {}
    if max_bytes is not None:
        caps["max_bytes"] = max_bytes
    if max_duration_s is not None:
        caps["max_duration_s"] = max_duration_s
    audio, info = decode_module.decode(path, **caps)  # type: ignore[arg-type]
    source_metrics = measure(audio, channels=info.channels)
    box = [audio]
    del audio
    return info, source_metrics, _run(box, settings, owned=True)


def _run(box: list[Audio], settings: Settings, owned: bool) -> Prepared:
    """The chain over an audio handed over in `box`: each step's input is dropped as soon as
    the next exists, so peak memory stays near two copies of the signal."""
    audio = box.pop()
    if audio.duration < MIN_DURATION_S:
        raise AudioError(
            audio.source or "<audio>",
            f"too short: {audio.duration:.2f} s (at least {MIN_DURATION_S} s needed)",
        )
    records: list[Step] = []
    audio, step = steps.highpass(audio, settings.highpass_hz, in_place=owned)
    records.append(step)
    audio, step = steps.resample(audio, settings.target_rate, settings.resample_quality)
    records.append(step)
    audio, step = steps.denoise(audio, settings.denoise, settings.snr_threshold_db)
    records.append(step)
    audio, step, speech = steps.trim_speech(
        audio, settings.pad_s, settings.max_pause_s, settings.pause_to_s
    )
    records.append(step)
    audio, step, levels = loudness.normalize_with_levels(
        audio, settings.target_lufs, settings.ceiling_dbtp, max_limit_db=settings.max_limit_db
    )
    records.append(step)
    return Prepared(audio, records, speech, levels)
