"""Who is speaking: one embedding per clip, and a check that a voice's clips are one speaker.

A clip of someone else in a voice folder would be cloned into the voice; each clip is compared
with the centroid of the voice's *other* clips, so one intruder cannot pull the reference toward
itself. The threshold is calibrated in `benchmarks/bench_quality.py` on the bundled LibriSpeech
voices with the other bundled clips as intruders (CAM++ via `audio.campplus`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audio import campplus, vad
from audio.types import Audio

# Same speaker >= 0.58 and different speakers <= 0.42 were measured on LibriSpeech; the
# benchmark's figures for the bundled voices put the cut in the gap between them.
DEFAULT_THRESHOLD = 0.45
MIN_SPEECH_S = 1.0  # below this, the whole clip is embedded rather than its speech frames only
MAX_SPEECH_S = 30.0  # enough to know a voice; bounds the cost on long recordings


@dataclass(frozen=True)
class ClipCheck:
    similarity: float | None  # cosine to the centroid of the other clips; None when alone
    excluded: bool
    reason: str | None


@dataclass(frozen=True)
class VoiceCheck:
    clips: tuple[ClipCheck, ...]
    threshold: float
    failure: str | None  # set when the voice has no clear majority speaker

    @property
    def similarities(self) -> tuple[float | None, ...]:
        return tuple(c.similarity for c in self.clips)


def _speech_only(x16: np.ndarray, prob: np.ndarray | None) -> np.ndarray:
    powers = vad.frame_powers(x16)
    mask = vad.speech_mask(vad.raw_decisions(x16, powers, prob))
    if mask.sum() * vad.FRAME_S < MIN_SPEECH_S:
        return x16
    frames = x16[: len(mask) * vad.FRAME].reshape(len(mask), vad.FRAME)[mask]
    return frames.reshape(-1)[: int(MAX_SPEECH_S * vad.VAD_RATE)]


def embed(audio: Audio, prob: np.ndarray | None = None) -> np.ndarray:
    """192-d L2-normalised speaker embedding of the clip's speech (16 kHz CAM++).

    `prob`: Silero's output on this timeline when already known (vad.speech_probabilities).
    """
    x16 = _speech_only(vad.analysis_copy(audio.samples, audio.rate), prob)
    # A fixed speech level, so the fbank's log floor treats a quiet recording like a loud one.
    loud = vad.loud_power(vad.frame_powers(x16))
    if loud > vad.SILENCE_POWER:
        x16 = x16 * np.float32(10 ** (vad.TARGET_LOUD_DB / 20) / np.sqrt(loud))
    e = campplus.forward(x16).astype(np.float64)
    norm = np.linalg.norm(e)
    return (e / norm if norm > 0 else e).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else 0.0


def _majority(e: np.ndarray, threshold: float) -> list[int]:
    """The largest group of clips that sound alike: the clip with most same-speaker neighbours
    (pairwise cosine >= threshold; ties go to the higher mean cosine) and those neighbours."""
    sims = e @ e.T
    same = sims >= threshold
    counts = same.sum(axis=1)
    anchor = max(range(len(e)), key=lambda i: (counts[i], sims[i].mean()))
    return [j for j in range(len(e)) if same[anchor, j]]


def check_voice(
    embeddings: Sequence[np.ndarray], threshold: float = DEFAULT_THRESHOLD
) -> VoiceCheck:
    """Exclude clips unlike the rest of the voice; fail the voice without a clear majority.

    The majority speaker is the largest group of mutually similar clips. Each clip's similarity is
    its cosine to the centroid of the majority's clips other than itself; clips below `threshold`
    are excluded. When the majority is not more than half of the clips, or fewer than two clips
    agree, there is no clear majority speaker and the voice fails.
    """
    n = len(embeddings)
    if n == 0:
        return VoiceCheck((), threshold, None)
    if n == 1:
        return VoiceCheck((ClipCheck(None, False, None),), threshold, None)
    e = np.stack([np.asarray(v, dtype=np.float64) for v in embeddings])
    e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    group = _majority(e, threshold)
    total = e[group].sum(axis=0)
    clips = []
    for i in range(n):
        others, count = (total - e[i], len(group) - 1) if i in group else (total, len(group))
        if count == 0:  # a majority of one: compare with every other clip instead
            others, count = e.sum(axis=0) - e[i], n - 1
        sim = cosine(e[i], others / count)
        if sim >= threshold:
            clips.append(ClipCheck(round(sim, 3), False, None))
        else:
            reason = f"different speaker: similarity {sim:.2f} to the rest of the voice"
            clips.append(ClipCheck(round(sim, 3), True, reason))
    kept = sum(not c.excluded for c in clips)
    failure = None
    if kept * 2 <= n or kept < 2:
        failure = (
            f"no clear majority speaker: at most {kept} of {n} clips sound like one speaker "
            f"(similarity {threshold:.2f} or more)"
        )
    return VoiceCheck(tuple(clips), threshold, failure)
