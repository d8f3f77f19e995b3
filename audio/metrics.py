"""Clip QC metrics, cheap enough to run on every source and every take (hundreds of x real time)."""

from __future__ import annotations

import math

import numpy as np

from audio import loudness, vad
from audio.quality import Quality
from audio.types import Audio, Metrics

GATED_REL_DB = 80.0  # frames this far below the loud frames are gated/zero, not noise
MIN_NOISE_FRAMES = 5  # 150 ms of non-speech needed to estimate noise
MAX_SNR_DB = 80.0
MIN_FLOOR_FRAMES = 30  # about 1 s of audio for the minimum-statistics fallback
FLOOR_PERCENTILE = 10.0
NOISE_SHARE = 0.1  # below this share of non-speech frames, minimum statistics join in


def _snr_from(x16: np.ndarray, powers: np.ndarray, decisions: np.ndarray) -> float | None:
    """VAD-SNR: mean speech-frame power over the noise-frame power (noise-gate proof).

    The noise power is the median of the non-speech frames; when speech fills the recording
    (babble, a continuous read), there are too few of those to trust, so the estimate is at
    least the minimum statistics: the 10th percentile of all frames, in the gaps between words.
    """
    if len(powers) == 0 or not decisions.any():
        return None
    widened = vad.smooth(decisions, min_speech_s=0.0, bridge_s=0.0, onset_s=0.064, hangover_s=0.096)
    with np.errstate(divide="ignore"):
        rel_db = 10 * np.log10(np.maximum(powers, 1e-30) / max(vad.loud_power(powers), 1e-30))
    live = rel_db > -GATED_REL_DB  # relative, so a quiet recorder gain reads the same SNR
    noise = powers[~widened & live]
    floor = float(np.percentile(powers[live], FLOOR_PERCENTILE)) if live.any() else 0.0
    if len(noise) >= max(MIN_NOISE_FRAMES, NOISE_SHARE * live.sum()):
        p_noise = float(np.median(noise))
    elif live.sum() >= MIN_FLOOR_FRAMES:
        # Few pauses (babble, a continuous read): a quiet lead-in alone must not set the floor.
        p_noise = max(float(np.median(noise)) if len(noise) else 0.0, floor)
    elif len(noise) >= MIN_NOISE_FRAMES:
        p_noise = float(np.median(noise))
    else:
        return None
    p_speech = float(np.mean(powers[decisions]))
    if p_noise <= 0 or p_speech <= p_noise:
        return 0.0 if p_noise > 0 else None
    return min(MAX_SNR_DB, 10 * math.log10((p_speech - p_noise) / p_noise))


def vad_snr(
    samples: np.ndarray, rate: int, prob: np.ndarray | None = None, x16: np.ndarray | None = None
) -> float | None:
    """SNR estimate in dB from VAD speech vs non-speech frames; None for silence or no speech.

    `prob`: Silero's output on this timeline when already known (vad.speech_probabilities);
    `x16`: the signal's analysis copy (vad.analysis_copy), likewise.
    """
    x16 = vad.analysis_copy(samples, rate) if x16 is None else x16
    powers = vad.frame_powers(x16)
    return _snr_from(x16, powers, vad.raw_decisions(x16, powers, prob))


def clipping_ratio(samples: np.ndarray, peak_floor_db: float = -0.2, block: int = 1 << 20) -> float:
    """Share of samples in flat-top runs (>= 3 samples at >= 99.9 % of the peak), in blocks: a
    run reaching a block's end is carried into the next (no mask the length of an hour)."""
    if len(samples) == 0:
        return 0.0
    peak = max(float(samples.max()), -float(samples.min()))
    if peak <= 0 or 20 * math.log10(peak) < peak_floor_db:
        return 0.0
    total, carried = 0, 0
    for start in range(0, len(samples), block):
        top = np.abs(samples[start : start + block]) >= 0.999 * peak
        edges = np.flatnonzero(np.diff(np.concatenate([[0], top.view(np.int8), [0]])))
        starts, lengths = edges[::2], edges[1::2] - edges[::2]
        if len(starts) and starts[0] == 0:
            lengths[0] += carried
        elif carried >= 3:
            total += carried
        carried = 0
        if len(edges) and edges[-1] == len(top):
            carried, lengths = int(lengths[-1]), lengths[:-1]
        total += int(lengths[lengths >= 3].sum())
    if carried >= 3:
        total += carried
    return total / len(samples)


def bandwidth(samples: np.ndarray, rate: int, threshold_db: float = -50.0) -> float:
    """Effective bandwidth (NeMo SDP EstimateBandwidth): highest bin within 50 dB of the peak.

    Mean power spectrum, n_fft 512, Blackman-Harris, over the first 30 s.
    """
    n_fft, hop = 512, 256
    x = samples[: int(30 * rate)].astype(np.float32)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    # 4-term Blackman-Harris, periodic (scipy's get_window default), without importing scipy.signal
    phase = 2 * np.pi * np.arange(n_fft) / n_fft
    window = (
        0.35875
        - 0.48829 * np.cos(phase)
        + 0.14128 * np.cos(2 * phase)
        - 0.01168 * np.cos(3 * phase)
    ).astype(np.float32)
    power = np.mean(np.abs(np.fft.rfft(frames * window, axis=1)) ** 2, axis=0)
    if power.max() <= 0:
        return 0.0
    db = 10 * np.log10(np.maximum(power, 1e-30) / power.max())
    idx = np.flatnonzero(db >= threshold_db)
    return float(idx[-1] * rate / n_fft)


def measure(
    audio: Audio,
    *,
    channels: int = 1,
    levels: loudness.Levels | None = None,
    prob: np.ndarray | None = None,
    x16: np.ndarray | None = None,
) -> Metrics:
    """All QC metrics of one mono clip; `channels` records the source layout. `levels` and
    `prob` (vad.speech_probabilities) of this very audio save measuring them again, and so does
    its 16 kHz `x16` (vad.analysis_copy) resampling it again."""
    x, rate = audio.samples, audio.rate
    if x16 is None:
        x16 = vad.analysis_copy(x, rate)
    powers = vad.frame_powers(x16)
    decisions = vad.raw_decisions(x16, powers, prob)
    speech = vad.speech_mask(decisions)
    speech_s = min(audio.duration, float(speech.sum()) * vad.FRAME_S)
    lv = levels or loudness.levels(x, rate)
    lufs = round(lv.lufs, 2) if lv.lufs is not None and math.isfinite(lv.lufs) else None
    lra = None if lv.lra is None else round(lv.lra, 2)
    tp = lv.true_peak_dbtp
    snr = _snr_from(x16, powers, decisions)
    return Metrics(
        duration_s=round(audio.duration, 3),
        speech_s=round(speech_s, 2),
        speech_ratio=round(speech_s / audio.duration, 3) if audio.duration > 0 else 0.0,
        snr_db=None if snr is None else round(snr, 1),
        clipping_ratio=round(clipping_ratio(x), 6),
        loudness_lufs=lufs,
        loudness_range_lu=lra,
        true_peak_dbtp=round(tp, 2) if math.isfinite(tp) else -120.0,
        bandwidth_hz=round(bandwidth(x, rate), 0),
        sample_rate=rate,
        channels=channels,
    )


def with_source_defects(prepared: Metrics, source: Metrics) -> Metrics:
    """Prepared metrics that still remember defects the chain hides (clipping, narrow band).

    Gain and filtering smear flat tops, so clipping is only visible on the source; a 44.1 kHz take
    made from phone audio keeps the source's bandwidth.
    """
    from dataclasses import replace

    return replace(
        prepared,
        clipping_ratio=max(prepared.clipping_ratio, source.clipping_ratio),
        bandwidth_hz=min(prepared.bandwidth_hz, source.bandwidth_hz),
    )


def with_quality(metrics: Metrics, quality: Quality | None) -> Metrics:
    """Metrics with the DNSMOS fields filled from a score (unchanged when there is none)."""
    from dataclasses import replace

    if quality is None:
        return metrics
    return replace(
        metrics, dnsmos_sig=quality.sig, dnsmos_bak=quality.bak, dnsmos_ovrl=quality.ovrl
    )


def with_speaker(metrics: Metrics, similarity: float | None) -> Metrics:
    """Metrics with the clip's similarity to the rest of its voice (audio.speaker.check_voice)."""
    from dataclasses import replace

    return replace(metrics, speaker_similarity=similarity)
