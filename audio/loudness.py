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


def _oversampled_chunks(samples: np.ndarray, per_sample: bool = True):
    """Yield (start, end, |peak|) per chunk: per input sample over its 4 oversampled points when
    `per_sample`, else the chunk's 4x-oversampled signal itself."""
    from scipy.signal import resample_poly

    n = len(samples)
    for start in range(0, n, _CHUNK):
        end = min(n, start + _CHUNK)
        lo, hi = max(0, start - _TP_PAD), min(n, end + _TP_PAD)
        up = resample_poly(samples[lo:hi].astype(np.float32, copy=False), 4, 1)
        up = up[(start - lo) * 4 : (end - lo) * 4]
        if not per_sample:
            yield start, end, up
            continue
        up = np.abs(up)
        peak = np.maximum(np.maximum(up[0::4], up[1::4]), np.maximum(up[2::4], up[3::4]))
        yield start, end, np.maximum(peak, np.abs(samples[start:end]))


def true_peak(samples: np.ndarray) -> float:
    """True peak in dBTP from a 4x oversampled copy (BS.1770 annex 2), computed chunk by chunk."""
    peak = max((float(samples.max()), -float(samples.min())), default=0.0) if len(samples) else 0.0
    for _, _, up in _oversampled_chunks(samples, per_sample=False):
        peak = max(peak, float(up.max()), -float(up.min()))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def _true_peak_near(samples: np.ndarray, idx: np.ndarray, merge: int = 4096) -> float:
    """True peak (dBTP) over the neighbourhoods of the sorted sample indices `idx` only."""
    from scipy.signal import resample_poly

    n = len(samples)
    if len(idx) == 0 or n == 0:
        return float("-inf")
    breaks = np.flatnonzero(np.diff(idx) > merge) + 1
    firsts = np.concatenate([idx[:1], idx[breaks]])
    lasts = np.concatenate([idx[breaks - 1], idx[-1:]])
    peak = 0.0
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        a, b = max(0, first - 2), min(n, last + 3)
        lo, hi = max(0, a - _TP_PAD), min(n, b + _TP_PAD)
        up = resample_poly(samples[lo:hi], 4, 1)[(a - lo) * 4 : (b - lo) * 4]
        peak = max(peak, float(up.max()), -float(up.min()))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def _peak_scan(samples: np.ndarray, depth_db: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Max true peak plus the (index, peak) of every sample within `depth_db` of it.

    Only those samples can ever need limiting, so the limiter never re-oversamples the signal.
    """
    peak_max = 0.0
    idx: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    factor = 10 ** (-depth_db / 20)
    for start, _, up in _oversampled_chunks(samples):
        chunk_max = float(up.max()) if len(up) else 0.0
        peak_max = max(peak_max, chunk_max)
        sel = np.flatnonzero(up > chunk_max * factor)
        idx.append(sel + start)
        vals.append(up[sel])
    if not idx:
        return 0.0, np.zeros(0, np.int64), np.zeros(0, np.float32)
    return peak_max, np.concatenate(idx), np.concatenate(vals).astype(np.float32)


def _apply_limiter(
    samples: np.ndarray,
    rate: int,
    gain: float,
    ceiling: float,
    peaks: tuple[np.ndarray, np.ndarray],
    out: np.ndarray,
    lookahead_ms: float = 5.0,
    release_ms: float = 60.0,
) -> float:
    """out = samples * gain * envelope; returns the deepest envelope gain (linear).

    Required gain per sample comes from the 4x-oversampled peaks. A minimum filter spanning
    [n - look-ahead, n + release] then a centred moving average of 2*look-ahead+1 samples gives a
    smooth envelope that is provably at or below the required gain at every peak: no hard clipping.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    idx, vals = peaks
    la = max(1, int(rate * lookahead_ms / 1000))
    rel = max(la, int(rate * release_ms / 1000))
    margin = rel + 3 * la
    size = rel + la + 1
    origin = size // 2 - la  # the held-low region spans [peak - look-ahead, peak + release]
    over = vals * np.float32(gain) > ceiling
    idx, need_at = idx[over], np.minimum(1.0, ceiling / (vals[over] * gain)).astype(np.float32)
    deepest = 1.0
    n = len(samples)
    g32 = np.float32(gain)
    for start in range(0, n, _CHUNK):
        end = min(n, start + _CHUNK)
        lo, hi = max(0, start - margin), min(n, end + margin)
        a, b = np.searchsorted(idx, lo), np.searchsorted(idx, hi)
        if a == b:
            np.multiply(samples[start:end], g32, out=out[start:end])
            continue
        need = np.ones(hi - lo, dtype=np.float32)
        need[idx[a:b] - lo] = need_at[a:b]
        held = minimum_filter1d(need, size=size, origin=origin, mode="nearest")
        env = uniform_filter1d(held, size=2 * la + 1, mode="nearest")[start - lo : end - lo]
        np.multiply(samples[start:end], env * g32, out=out[start:end])
        deepest = min(deepest, float(env.min()))
    return deepest


def limit(
    samples: np.ndarray,
    rate: int,
    ceiling_dbtp: float,
    lookahead_ms: float = 5.0,
    release_ms: float = 60.0,
) -> tuple[np.ndarray, float]:
    """Look-ahead peak limiter; returns (limited float32 samples, deepest gain reduction in dB)."""
    ceiling = 10 ** (ceiling_dbtp / 20)
    _, idx, vals = _peak_scan(samples, 60.0)
    out = np.empty(len(samples), dtype=np.float32)
    deepest = _apply_limiter(
        samples, rate, 1.0, ceiling, (idx, vals), out, lookahead_ms, release_ms
    )
    return out, -20 * math.log10(deepest)


def normalize(
    audio: Audio,
    target_lufs: float = -20.0,
    ceiling_dbtp: float = -3.0,
    tolerance_lu: float = 0.1,
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
    if not math.isfinite(before_lufs):
        raise AudioError(audio.source or "<audio>", "silent: loudness below the -70 LUFS gate")
    peak_max, idx, vals = _peak_scan(x, max_limit_db + 1.0)
    before_tp = 20 * math.log10(peak_max) if peak_max > 0 else float("-inf")
    params = {"target_lufs": target_lufs, "ceiling_dbtp": ceiling_dbtp, "method": "BS.1770-4"}
    gain_db = target_lufs - before_lufs
    limited_db = 0.0
    y = np.multiply(x, np.float32(10 ** (gain_db / 20)), dtype=np.float32)
    tp = before_tp + gain_db  # gain is linear: the true peak moves with it exactly
    iterations = 0
    if tp <= ceiling_dbtp:
        lufs = integrated_loudness(y, audio.rate)
    else:
        # Limit a little below the ceiling, then make up the lost loudness. Limiting flattens the
        # loudness-vs-gain curve, so the make-up gain follows a secant step, not a plain difference.
        ceiling = 10 ** ((ceiling_dbtp - 0.1) / 20)
        gain_cap = ceiling_dbtp - before_tp + max_limit_db
        history: list[tuple[float, float]] = []
        for attempt in range(1, max_iterations + 1):
            iterations = attempt
            deepest = _apply_limiter(x, audio.rate, 10 ** (gain_db / 20), ceiling, (idx, vals), y)
            limited_db = -20 * math.log10(deepest)
            lufs = integrated_loudness(y, audio.rate)
            # Elsewhere the gain keeps peaks >= 1 dB under the ceiling, so checking the
            # neighbourhoods of the loud samples is enough (and much cheaper than a full pass).
            near = idx[vals * np.float32(10 ** ((gain_db + 1.0) / 20)) > ceiling]
            tp = _true_peak_near(y, near) if len(near) else true_peak(y)
            if abs(lufs - target_lufs) <= tolerance_lu and tp <= ceiling_dbtp:
                break
            history.append((gain_db, lufs))
            slope = 1.0
            if len(history) >= 2:
                (g0, l0), (g1, l1) = history[-2], history[-1]
                if abs(g1 - g0) > 1e-6:
                    slope = min(1.0, max(0.05, (l1 - l0) / (g1 - g0)))
            if tp > ceiling_dbtp:  # envelope interpolation let a peak through: go lower
                ceiling *= 10 ** ((ceiling_dbtp - tp - 0.05) / 20)
            if gain_db >= gain_cap and tp <= ceiling_dbtp:
                break  # the target needs more than max_limit_db of limiting: stop transparent
            gain_db = min(gain_cap, gain_db + (target_lufs - lufs) / slope)
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
