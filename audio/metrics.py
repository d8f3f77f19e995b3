"""Clip QC metrics, cheap enough to run on every source and every take (hundreds of x real time)."""

from __future__ import annotations

import math

import numpy as np

from audio import loudness, vad
from audio.types import Audio, Metrics

DIGITAL_SILENCE_DB = -90.0  # frames below this are gated/zero, not noise
MIN_NOISE_FRAMES = 5  # 150 ms of non-speech needed to estimate noise
MAX_SNR_DB = 80.0


def _snr_from(x16: np.ndarray, powers: np.ndarray, decisions: np.ndarray) -> float | None:
    """VAD-SNR: mean speech-frame power over median noise-frame power (noise-gate proof)."""
    if len(powers) == 0 or not decisions.any():
        return None
    widened = vad.smooth(decisions, min_speech_s=0.0, bridge_s=0.0, onset_s=0.06, hangover_s=0.09)
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(np.maximum(powers, 1e-30))
    noise = powers[~widened & (db > DIGITAL_SILENCE_DB)]
    if len(noise) < MIN_NOISE_FRAMES:
        return None
    p_noise = float(np.median(noise))
    p_speech = float(np.mean(powers[decisions]))
    if p_noise <= 0 or p_speech <= p_noise:
        return 0.0 if p_noise > 0 else None
    return min(MAX_SNR_DB, 10 * math.log10((p_speech - p_noise) / p_noise))


def vad_snr(samples: np.ndarray, rate: int) -> float | None:
    """SNR estimate in dB from VAD speech vs non-speech frames; None when no noise frames exist."""
    x16 = vad.analysis_copy(samples, rate)
    powers = vad.frame_powers(x16)
    return _snr_from(x16, powers, vad.raw_decisions(x16, powers))


def clipping_ratio(samples: np.ndarray, peak_floor_db: float = -0.2) -> float:
    """Share of samples in flat-top runs (>= 3 samples at >= 99.9 % of the peak)."""
    if len(samples) == 0:
        return 0.0
    peak = max(float(samples.max()), -float(samples.min()))
    if peak <= 0 or 20 * math.log10(peak) < peak_floor_db:
        return 0.0
    at_top = np.zeros(len(samples) + 2, dtype=np.int8)  # padded with a False at both ends
    for start in range(0, len(samples), 1 << 20):
        block = samples[start : start + (1 << 20)]
        at_top[start + 1 : start + 1 + len(block)] = np.abs(block) >= 0.999 * peak
    edges = np.flatnonzero(np.diff(at_top))
    lengths = edges[1::2] - edges[::2]
    return float(lengths[lengths >= 3].sum() / len(samples))


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


def measure(audio: Audio, *, channels: int = 1, levels: loudness.Levels | None = None) -> Metrics:
    """All QC metrics of one mono clip; `channels` records the source layout. `levels` of this
    very audio (from the loudness step) saves measuring loudness and true peak again."""
    x, rate = audio.samples, audio.rate
    x16 = vad.analysis_copy(x, rate)
    powers = vad.frame_powers(x16)
    decisions = vad.raw_decisions(x16, powers)
    speech = vad.smooth(decisions)
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
