"""DNSMOS P.835 quality score (SIG speech, BAK background, OVRL overall; 1-5) for one clip.

The model is Microsoft's `sig_bak_ovr.onnx` from the `speechmos` wheel (MIT), run with onnxruntime
directly; the input handling and the polynomial calibration follow `speechmos/dnsmos.py` (itself
the DNS-Challenge reference). Two choices of ours, and why:

- every clip is scored at -23 LUFS, so the loudness target of the preparation does not read as a
  change in quality; the score says what the recording sounds like, not how loud it is;
- windows: the reference slides 9.01 s windows by 1 s (about 7 s of compute per minute of audio);
  we lay the fewest 9.01 s windows that leave less than a second unheard, evenly spaced (the
  last one ends at the end), which is about 8x cheaper and still hears all but one second. A clip shorter than one window
  is tiled by repetition, as the reference does, up to exactly one window (the reference slides
  over several windows of the same repeated content). `benchmarks/bench_quality.py` prints the
  difference to the reference windowing on the bundled speech.

onnxruntime's spinning worker threads starve the numpy work around them on a small machine, so
the session is single-threaded with spinning off, created once per process and reused.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from audio.types import Audio

RATE = 16000
WINDOW = 144160  # 9.01 s at 16 kHz, the model's input
SCORE_LUFS = -23.0
REFERENCE_HOP_S = 1.0
BATCH = 1  # windows per model call: 8 at once cost 1 GB of activations and no time
_P_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_P_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_P_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])
_lock = threading.Lock()


@dataclass(frozen=True)
class Quality:
    sig: float
    bak: float
    ovrl: float


@functools.cache
def _session(arena: bool = True) -> Any:
    """The model's session; `arena=False` for long clips (see `score`)."""
    from audio import onnx

    path = metadata.distribution("speechmos").locate_file(
        "speechmos/dnsmos_models/sig_bak_ovr.onnx"
    )
    return onnx.session(str(path), arena=arena)


def _at_score_level(audio: Audio) -> np.ndarray:
    """16 kHz mono at -23 LUFS (silence and too-short clips are left as they are)."""
    from audio import loudness, vad

    x = vad.analysis_copy(audio.samples, audio.rate)
    if len(x) >= loudness.MIN_LOUDNESS_S * RATE:
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        if peak > 0:
            x = x * np.float32(0.5 / peak)  # BS.1770's -70 LUFS gate must not see a quiet clip
            lufs = loudness.integrated_loudness(x, RATE)
            if math.isfinite(lufs):
                x = x * np.float32(10 ** ((SCORE_LUFS - lufs) / 20))
    return np.asarray(x, dtype=np.float32)


MAX_WINDOWS = 10  # 90 s heard at most (~4.5 s of CPU): an hour is judged by a sample across it


def window_starts(n: int, hop_s: float | None = None, max_windows: int | None = None) -> list[int]:
    """Start samples of the 9.01 s windows over `n` samples (n >= WINDOW).

    `hop_s=None` is our layout: the fewest windows, evenly spaced from the start to the end,
    that leave less than one second unheard in all (the reference's 1 s hop leaves up to a
    second at the end too: a 10 s clip is one window for both). A number gives the reference's
    sliding layout. `max_windows` spreads at most that many windows evenly over a long clip.
    """
    if hop_s is not None:
        count = int(math.floor(n / RATE) - WINDOW / RATE) + 1
        return [int(i * hop_s * RATE) for i in range(max(count, 1))]
    count = max(1, math.ceil((n - RATE) / WINDOW))
    if max_windows is not None:
        count = min(count, max_windows)
    if count == 1:
        return [0]
    return [round(i * (n - WINDOW) / (count - 1)) for i in range(count)]


def sampled(audio: Audio) -> bool:
    """Whether `score` hears the clip as MAX_WINDOWS excerpts, on every core (a long clip)."""
    return len(audio.samples) > (MAX_WINDOWS + 1) * round(WINDOW / RATE * audio.rate)


def _sample(audio: Audio) -> Audio:
    """A long clip as MAX_WINDOWS excerpts of one window each, spread evenly and joined, so the
    resampling and levelling before the model touch 90 s rather than the whole hour."""
    span = round(WINDOW / RATE * audio.rate)
    n = len(audio.samples)
    if not sampled(audio):
        return audio
    starts = [round(i * (n - span) / (MAX_WINDOWS - 1)) for i in range(MAX_WINDOWS)]
    joined = np.concatenate([audio.samples[s : s + span] for s in starts])
    return Audio(joined, audio.rate, audio.source)


def score(audio: Audio, hop_s: float | None = None, arena: bool | None = None) -> Quality:
    """DNSMOS P.835 of the clip at -23 LUFS; `hop_s=1.0` gives the reference windowing.

    Ours hears at most MAX_WINDOWS windows spread over the clip, so a long recording costs what
    90 s do (the model is about 3 s of CPU per minute of audio).

    `arena`: onnxruntime's memory arena keeps one window's activations (180 MB) after the runs,
    for ~70 ms less a window. Next to an hour of audio that is too much (1.59 GB peak with
    --quality on a noisy hour; the goal is 1.5), so by default a clip long enough to be sampled
    runs without it; work on an excerpt of a long clip passes False.
    """
    heard = _sample(audio) if hop_s is None else audio
    arena = heard is audio if arena is None else arena
    x = _at_score_level(heard)
    if len(x) == 0:
        raise ValueError("cannot score an empty clip")
    short = len(x) < WINDOW
    while len(x) < WINDOW:  # the reference tiles short clips by repetition
        x = np.concatenate([x, x])
    if short and hop_s is None:  # ours: one window of the repetition (each one hears the same)
        x = x[:WINDOW]
    starts = window_starts(len(x), hop_s, None if hop_s is not None else MAX_WINDOWS)
    from audio import cores

    batches = [starts[i : i + BATCH] for i in range(0, len(starts), BATCH)]  # bounded memory
    # a long clip's windows on every core: the model is the chain's one costly step left alone
    parallel = len(batches) > 1 and heard is not audio
    raw = np.concatenate(list(cores.map_chunks(_run_model, batches, (x, arena), parallel)))
    sig, bak, ovr = (float(np.mean(p(raw[:, k]))) for k, p in enumerate((_P_SIG, _P_BAK, _P_OVR)))
    return Quality(round(sig, 3), round(bak, 3), round(ovr, 3))


def _run_model(starts: list[int]) -> np.ndarray:
    """The model's raw scores of the windows at `starts` of the shared (signal, arena)."""
    from audio import cores

    x, arena = cores.shared()
    batch = np.stack([x[s : s + WINDOW] for s in starts])
    with _lock:  # taken in this process only: a forked copy starts with it free
        return np.asarray(_session(arena).run(None, {"input_1": batch})[0])
