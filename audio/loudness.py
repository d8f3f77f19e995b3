"""BS.1770 loudness, 4x-oversampled true peak, a look-ahead limiter and the loudness step.

Loudness uses pyloudnorm's own K-weighting filters and its exact gating-block arithmetic, but runs
the filter in chunks (float32 in, small float64 blocks) and sums blocks from cumulative sums:
pyloudnorm copies the whole signal to float64 and loops over blocks in Python, which costs GBs and
seconds on a 30-minute input. `tests/audio/test_loudness.py` checks both agree.
"""

from __future__ import annotations

import math

import numpy as np

from audio.types import Audio, AudioError, Step

MIN_LOUDNESS_S = 0.4  # one BS.1770 gating block
_CHUNK = 1 << 18
_TP_PAD = 64  # samples of context around each true-peak chunk (resample_poly filter half-length)


def _k_weighted_square_cumsum(samples: np.ndarray, rate: int, bounds: np.ndarray) -> np.ndarray:
    """Cumulative sum of the squared K-weighted signal, taken at the sample indices in `bounds`."""
    import pyloudnorm
    from scipy.signal import lfilter, lfilter_zi

    meter = pyloudnorm.Meter(rate)
    stages = [(f.b, f.a, f.passband_gain) for f in meter._filters.values()]
    states = [lfilter_zi(b, a) * 0.0 for b, a, _ in stages]
    out = np.empty(len(bounds), dtype=np.float64)
    order = np.argsort(bounds, kind="stable")
    sorted_bounds = bounds[order]
    pos = 0  # next bound to fill
    total = 0.0
    n = len(samples)
    for start in range(0, max(n, 1), _CHUNK):
        block = samples[start : start + _CHUNK].astype(np.float64)
        for i, (b, a, g) in enumerate(stages):
            block, states[i] = lfilter(b, a, block, zi=states[i])
            block = block * g if g != 1.0 else block
        csum = np.cumsum(np.square(block))
        end = start + len(block)
        while pos < len(sorted_bounds) and sorted_bounds[pos] <= end:
            idx = sorted_bounds[pos] - start
            out[order[pos]] = total + (csum[idx - 1] if idx > 0 else 0.0)
            pos += 1
        total += float(csum[-1]) if len(csum) else 0.0
    while pos < len(sorted_bounds):
        out[order[pos]] = total
        pos += 1
    return out


def _block_powers(
    samples: np.ndarray, rate: int, block: float, overlap: float, length: int | None = None
) -> np.ndarray:
    """Mean square per gating block; `length` > len(samples) means trailing zeros (no copy)."""
    length = len(samples) if length is None else length
    step = 1.0 - overlap
    duration = length / rate
    count = int(np.round((duration - block) / (block * step))) + 1
    j = np.arange(count)
    lower = (block * (j * step) * rate).astype(np.int64)
    upper = (block * (j * step + 1) * rate).astype(np.int64)
    upper = np.minimum(upper, length)
    sums = _k_weighted_square_cumsum(samples, rate, np.concatenate([lower, upper]))
    return (sums[count:] - sums[:count]) / (block * rate)


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4 gating, as pyloudnorm computes it); -inf for silence."""
    if len(samples) < MIN_LOUDNESS_S * rate:
        raise ValueError(f"loudness needs at least {MIN_LOUDNESS_S} s of audio")
    z = _block_powers(samples, rate, 0.4, 0.75)
    with np.errstate(divide="ignore"):
        lj = -0.691 + 10.0 * np.log10(z)
    gated = z[lj >= -70.0]
    if len(gated) == 0:
        return float("-inf")
    gamma_r = -0.691 + 10.0 * math.log10(gated.mean()) - 10.0
    gated = z[(lj > gamma_r) & (lj > -70.0)]
    if len(gated) == 0:
        return float("-inf")
    return float(-0.691 + 10.0 * math.log10(gated.mean()))


def loudness_range(samples: np.ndarray, rate: int) -> float | None:
    """EBU Tech 3342 loudness range (pyloudnorm's method: 3 s blocks at 10 Hz); None when undefined."""
    padded_len = len(samples) + int(1.5 * rate)  # pyloudnorm appends 1.5 s of silence
    if padded_len < 3.0 * rate:
        return None
    z = _block_powers(samples, rate, 3.0, 0.97, length=padded_len)
    with np.errstate(divide="ignore"):
        stl = -0.691 + 10.0 * np.log10(z)
    stl = stl[stl >= -70]
    if len(stl) == 0:
        return None
    integrated = 10 * np.log10(np.mean(np.power(10, stl / 10)))
    stl = stl[stl >= integrated - 20]
    if len(stl) == 0:
        return None
    return float(np.percentile(stl, 95) - np.percentile(stl, 10))


def _oversampled_chunks(samples: np.ndarray):
    """Yield (start, end, per-sample oversampled |peak|) for chunks, with context around each."""
    from scipy.signal import resample_poly

    n = len(samples)
    for start in range(0, n, _CHUNK):
        end = min(n, start + _CHUNK)
        lo, hi = max(0, start - _TP_PAD), min(n, end + _TP_PAD)
        up = np.abs(resample_poly(samples[lo:hi].astype(np.float32), 4, 1))
        up = up[(start - lo) * 4 : (end - lo) * 4].reshape(-1, 4).max(axis=1)
        yield start, end, np.maximum(up, np.abs(samples[start:end]))


def true_peak(samples: np.ndarray) -> float:
    """True peak in dBTP from a 4x oversampled copy (BS.1770 annex 2), computed chunk by chunk."""
    peak = 0.0
    for _, _, up in _oversampled_chunks(samples):
        peak = max(peak, float(up.max()))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def limit(
    samples: np.ndarray,
    rate: int,
    ceiling_dbtp: float,
    lookahead_ms: float = 5.0,
    release_ms: float = 60.0,
    in_place: bool = False,
) -> tuple[np.ndarray, float]:
    """Look-ahead peak limiter; returns (limited float32 samples, deepest gain reduction in dB).

    Required gain per sample comes from the 4x-oversampled peak. A minimum filter spanning
    [n - release, n + look-ahead] then a centred moving average of 2*look-ahead+1 samples gives a
    smooth envelope that is provably at or below the required gain at every peak: no hard clipping.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10 ** (ceiling_dbtp / 20)
    la = max(1, int(rate * lookahead_ms / 1000))
    rel = max(la, int(rate * release_ms / 1000))
    margin = rel + 3 * la + _TP_PAD
    size = rel + la + 1
    origin = size // 2 - la  # the held-low region spans [peak - look-ahead, peak + release]
    out = samples if in_place else np.empty_like(samples, dtype=np.float32)
    deepest = 1.0
    n = len(samples)
    left = np.zeros(0, dtype=np.float32)  # original (unlimited) samples just before `start`
    for start in range(0, n, _CHUNK):
        end = min(n, start + _CHUNK)
        hi = min(n, end + margin)
        ext = np.concatenate([left, samples[start:hi]])
        lo = start - len(left)
        left = samples[max(0, end - margin) : end].copy()
        peaks = np.concatenate([up for _, _, up in _oversampled_chunks(ext)])
        need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32)
        held = minimum_filter1d(need, size=size, origin=origin, mode="nearest")
        gain = uniform_filter1d(held, size=2 * la + 1, mode="nearest")
        g = gain[start - lo : end - lo]
        np.multiply(samples[start:end], g, out=out[start:end])
        deepest = min(deepest, float(g.min()))
    return out, -20 * math.log10(deepest)


def normalize(
    audio: Audio,
    target_lufs: float = -20.0,
    ceiling_dbtp: float = -3.0,
    tolerance_lu: float = 0.2,
    max_iterations: int = 8,
    max_limit_db: float = 12.0,
) -> tuple[Audio, Step]:
    """Gain to the target loudness; when that would break the true-peak ceiling, limit and make up.

    A target that needs more than `max_limit_db` of limiting is not forced (that would squash the
    voice): the step then stops at the loudest transparent result and says `target_reached: false`.
    """
    x = audio.samples
    if audio.duration < MIN_LOUDNESS_S:
        raise AudioError(
            audio.source or "<audio>",
            f"too short to measure loudness ({audio.duration:.2f} s; BS.1770 needs "
            f"at least {MIN_LOUDNESS_S} s)",
        )
    before_lufs = integrated_loudness(x, audio.rate)
    before_tp = true_peak(x)
    if not math.isfinite(before_lufs):
        raise AudioError(audio.source or "<audio>", "silent: loudness below the -70 LUFS gate")
    params = {"target_lufs": target_lufs, "ceiling_dbtp": ceiling_dbtp, "method": "BS.1770-4"}
    gain_db = target_lufs - before_lufs
    limited_db = 0.0
    y = np.multiply(x, np.float32(10 ** (gain_db / 20)), dtype=np.float32)
    lufs, tp = target_lufs, true_peak(y)
    iterations = 0
    if tp > ceiling_dbtp:
        # Limit a little below the ceiling, then make up the lost loudness. Limiting flattens the
        # loudness-vs-gain curve, so the make-up gain follows a secant step, not a plain difference.
        history: list[tuple[float, float]] = []
        for attempt in range(1, max_iterations + 1):
            iterations = attempt
            np.multiply(x, np.float32(10 ** (gain_db / 20)), out=y)  # reuse: one extra copy only
            y, limited_db = limit(y, audio.rate, ceiling_dbtp - 0.1, in_place=True)
            lufs, tp = integrated_loudness(y, audio.rate), true_peak(y)
            if abs(lufs - target_lufs) <= tolerance_lu and tp <= ceiling_dbtp:
                break
            history.append((gain_db, lufs))
            slope = 1.0
            if len(history) >= 2:
                (g0, l0), (g1, l1) = history[-2], history[-1]
                if abs(g1 - g0) > 1e-6:
                    slope = min(1.0, max(0.05, (l1 - l0) / (g1 - g0)))
            gain_cap = ceiling_dbtp - before_tp + max_limit_db
            if gain_db >= gain_cap:
                break  # the target needs more than max_limit_db of limiting: stop transparent
            gain_db = min(gain_cap, gain_db + (target_lufs - lufs) / slope)
    else:
        lufs = integrated_loudness(y, audio.rate)
    step = Step(
        name="loudness",
        params=params,
        before={"lufs": round(before_lufs, 2), "true_peak_dbtp": round(before_tp, 2)},
        after={
            "lufs": round(lufs, 2),
            "true_peak_dbtp": round(tp, 2),
            "gain_db": round(gain_db, 2),
            "limited_db": round(limited_db, 2),
            "limiter_rounds": iterations,
            "target_reached": bool(abs(lufs - target_lufs) <= 0.5 and tp <= ceiling_dbtp),
        },
    )
    return Audio(y.astype(np.float32, copy=False), audio.rate, audio.source), step
