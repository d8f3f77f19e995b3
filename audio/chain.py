"""The preparation chain: highpass -> resample -> denoise(auto) -> trim/pauses -> loudness."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from audio import loudness, quality, steps, turns
from audio.music import music_spans
from audio.quality import Quality
from audio.turns import Turns
from audio.types import Audio, AudioError, Metrics, SourceInfo, Step

# Bump when the processing changes in a way that should invalidate stored prepared clips.
# 2: Silero VAD, DFN3 denoise, 4 dB limiter cap, DNSMOS, embeddings
# 3: Silero once per timeline (carried through the trim), denoise strength judged on one 9 s excerpt
# 4: speaker turns inside every clip (audio.turns); takes hold only the voice's speaker
# 5: turns from frame-level segmentation (changes without pauses, overlap kept out), speakers by
#    relative clustering, music judged before denoising
# 6: possible overlap kept out where the segmentation and the embeddings disagree; music keeps out
#    only the speech under it; two people the segmentation holds apart stay two at d' 1.2
PIPELINE_VERSION = "6"


@dataclass(frozen=True)
class Settings:
    target_rate: int = 44100
    target_lufs: float = -20.0
    ceiling_dbtp: float = -3.0
    denoise: Literal["auto", "always", "never"] = "auto"
    denoise_method: str = "dfn3"  # dfn3 | noisereduce
    snr_threshold_db: float = 20.0
    pad_s: float = 0.15
    max_pause_s: float = 1.0
    pause_to_s: float = 0.5
    highpass_hz: float = 70.0
    resample_quality: str = "HQ"
    max_limit_db: float = 4.0  # peak limiting beyond this audibly squashes the voice
    quality: bool = False  # DNSMOS before and after (~3 s of CPU a minute); the flow turns it on
    speaker_turns: bool = True  # who speaks when (audio.turns); off: the clip is one speaker


@dataclass
class Prepared:
    audio: Audio
    steps: list[Step] = field(default_factory=list)
    speech: list[tuple[float, float]] = field(default_factory=list)  # seconds, on `audio`
    levels: loudness.Levels | None = None  # of `audio`, from the loudness step (no re-measure)
    quality: Quality | None = None  # DNSMOS of `audio` when Settings.quality is on
    prob: np.ndarray | None = None  # Silero per 32 ms frame of `audio`, carried through the trim
    turns: Turns | None = None  # speaker turns on `audio` when Settings.speaker_turns is on


MIN_DURATION_S = 0.5
QUIET_PEAK_DB = -30.0  # recordings whose peak is below this are lifted before BS.1770
LIFT_TO_PEAK_DB = -6.0


def _lift_quiet(audio: Audio) -> tuple[Audio, float]:
    """A linear gain for very quiet recordings, so BS.1770's absolute -70 LUFS gate does not
    call a -40 dB recording silent; the loudness step's own gain replaces it exactly."""
    import math

    peak = loudness.sample_peak(audio.samples)  # np.abs would be a copy of the whole clip
    if peak <= 0 or 20 * math.log10(peak) >= QUIET_PEAK_DB:
        return audio, 0.0
    gain_db = LIFT_TO_PEAK_DB - 20 * math.log10(peak)
    lifted = np.multiply(audio.samples, np.float32(10 ** (gain_db / 20)), dtype=np.float32)
    return Audio(lifted, audio.rate, audio.source), gain_db


def _with_pre_gain(step: Step, pre_gain_db: float) -> Step:
    """The loudness step as if measured on the unlifted input (before values and total gain)."""
    if pre_gain_db == 0.0:
        return step
    before = dict(step.before)
    for key in ("lufs", "true_peak_dbtp"):
        if isinstance(before.get(key), int | float):
            before[key] = round(before[key] - pre_gain_db, 2)
    after = dict(step.after)
    if isinstance(after.get("gain_db"), int | float):
        after["gain_db"] = round(after["gain_db"] + pre_gain_db, 2)
    params = {**step.params, "pre_gain_db": round(pre_gain_db, 2)}
    return Step(step.name, params, before, after)


# Told how far the chain is (0..1) and in which stage, so an hour of audio never looks hung.
Progress = Callable[[float, str], None]


def _quiet(fraction: float, stage: str) -> None:
    pass


def prepare(audio: Audio, settings: Settings = Settings(), progress: Progress = _quiet) -> Prepared:
    """Run the whole chain; AudioError when the clip is too short or has no speech."""
    return _run([audio], settings, owned=False, prob=None, progress=progress)


def prepare_file(
    path: str | os.PathLike[str],
    settings: Settings = Settings(),
    *,
    max_bytes: int | None = None,
    max_duration_s: float | None = None,
    progress: Progress = _quiet,
) -> tuple[SourceInfo, Metrics, Prepared]:
    """Decode, measure the source, and prepare, without keeping the decoded source alive.

    For long inputs this is the memory-lean path: the source is released after the first step,
    so a 30-minute 48 kHz stereo file stays well under 1 GB peak.
    """
    from audio import decode as decode_module
    from audio import vad
    from audio.metrics import measure

    caps: dict[str, float] = {}
    if max_bytes is not None:
        caps["max_bytes"] = max_bytes
    if max_duration_s is not None:
        caps["max_duration_s"] = max_duration_s
    progress(0.0, "decode")
    audio, info = decode_module.decode(path, **caps)  # type: ignore[arg-type]
    progress(0.05, "speech detection")
    x16 = vad.analysis_copy(audio.samples, audio.rate)  # heard by Silero, then measured
    prob = vad.probabilities(x16)
    progress(0.15, "measure")
    before = None
    if settings.quality and quality.sampled(audio):
        # a long recording: DNSMOS's windows, then the measures' pieces, each on every core (a
        # thread beside them would keep both from forking: audio.processes.can_fork)
        before = quality.score(audio)
    with ThreadPoolExecutor(1) as pool:  # a short clip: DNSMOS (onnxruntime) beside the measures
        scoring = pool.submit(quality.score, audio) if settings.quality and before is None else None
        source_metrics = measure(audio, channels=info.channels, prob=prob, x16=x16)
        before = scoring.result() if scoring is not None else before
    music = None
    if settings.speaker_turns:
        progress(0.2, "music detection")
        # in place only when x16 is a copy: a 16 kHz source is its own analysis copy
        music = _music(x16, in_place=x16 is not audio.samples)
    del x16
    box = [audio]
    del audio
    return info, source_metrics, _run(box, settings, True, prob, progress, before, music)


def _music(x16: np.ndarray, in_place: bool = False) -> list[tuple[float, float]]:
    """Where music plays, judged on the signal as recorded: a denoiser's residue of babble or
    noise can sound like music to the detector, a music bed under speech does before and after."""
    from audio import vad

    loud = vad.loud_power(vad.frame_powers(x16))
    if loud > vad.SILENCE_POWER:
        gain = np.float32(10 ** (vad.TARGET_LOUD_DB / 20) / np.sqrt(loud))
        x16 = np.multiply(x16, gain, out=x16 if in_place else None)
    return music_spans(x16)


def _run(
    box: list[Audio],
    settings: Settings,
    owned: bool,
    prob: np.ndarray | None,
    progress: Progress = _quiet,
    before: Quality | None = None,
    music: list[tuple[float, float]] | None = None,
) -> Prepared:
    """The chain over an audio handed over in `box`: each step's input is dropped as soon as
    the next exists, so peak memory stays near two copies of the signal.

    `prob`, Silero's output on the source, serves every step until one changes what is heard
    (denoise): high-pass and resampling keep the timeline and the speech on it.
    """
    from audio import vad

    audio = box.pop()
    if audio.duration < MIN_DURATION_S:
        raise AudioError(
            audio.source or "<audio>",
            f"too short: {audio.duration:.2f} s (at least {MIN_DURATION_S} s needed)",
        )
    if prob is None:
        prob = vad.speech_probabilities(audio.samples, audio.rate)
    records: list[Step] = []
    if settings.quality and before is None:
        progress(0.2, "quality")
        before = quality.score(audio)
    if settings.speaker_turns and music is None:
        music = _music(vad.analysis_copy(audio.samples, audio.rate).copy(), in_place=True)
    progress(0.25, "high-pass and resample")
    audio, step = steps.highpass(audio, settings.highpass_hz, in_place=owned)
    records.append(step)
    audio, step = steps.resample(audio, settings.target_rate, settings.resample_quality)
    records.append(step)
    progress(0.3, "denoise check")
    # heard by the denoise check, then by the trim
    x16: np.ndarray | None = vad.analysis_copy(audio.samples, audio.rate)
    audio, step = steps.denoise(
        audio, settings.denoise, settings.snr_threshold_db,
        method=settings.denoise_method, prob=prob, in_place=True, x16=x16,
    )  # fmt: skip
    records.append(step)
    if step.after.get("applied"):
        prob = x16 = None  # speech is found again on the denoised signal
    progress(0.4, "trim and loudness")
    # Every step from the high-pass on returns samples the chain owns: trim them in place.
    audio, step, speech, prob = steps.trim_speech(
        audio, settings.pad_s, settings.max_pause_s, settings.pause_to_s, prob, in_place=True,
        x16=x16,
    )  # fmt: skip
    del x16
    records.append(step)
    step_kept = step.after["kept"]
    audio, pre_gain_db = _lift_quiet(audio)
    audio, step, levels = loudness.normalize_with_levels(
        audio, settings.target_lufs, settings.ceiling_dbtp, max_limit_db=settings.max_limit_db,
        in_place=True,
    )  # fmt: skip
    records.append(_with_pre_gain(step, pre_gain_db))
    after = None
    if before is not None:
        progress(0.45, "quality")
        after = quality.score(audio)
        records.append(
            Step("quality", {"method": "DNSMOS P.835", "at_lufs": quality.SCORE_LUFS,
                             "max_windows": quality.MAX_WINDOWS, "window_s": 9.01},
                 asdict(before), asdict(after))
        )  # fmt: skip
    found = None
    if settings.speaker_turns:
        progress(0.5, "speaker turns")
        found = turns.find_turns(
            audio, speech, lambda f: progress(0.5 + 0.5 * f, "speaker turns"),
            music=steps.onto_trimmed(music or [], step_kept),
        )  # fmt: skip
        records.append(turns.step(found, music or []))
    progress(1.0, "done")
    return Prepared(audio, records, speech, levels, after, prob, found)
