"""BS.1770-4 loudness and loudness range, 4x-oversampled true peak, a look-ahead limiter and the
loudness step — in numpy alone (no scipy.signal: importing it costs more than a whole clip).

- K-weighting: the two biquads of BS.1770-4, re-derived for any sample rate from the analog
  prototype behind the standard's 48 kHz table (as libebur128 does), run once per signal. What is
  kept is the K-weighted energy of every 100 ms segment (a few numbers per second): integrated
  loudness (400 ms blocks, 75 % overlap) and loudness range (EBU Tech 3342: 3 s windows at 10 Hz)
  both come from it, and a plain gain only rescales it.
- True peak: the polyphase 4x interpolator `scipy.signal.resample_poly(x, 4, 1)` would use (81-tap
  Kaiser), evaluated only around samples that could reach the peak: an interpolated value never
  exceeds (sum of |taps|) x the largest sample in reach, so everything else is skipped exactly.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from audio import iir
from audio.types import Audio, AudioError, Step

MIN_LOUDNESS_S = 0.4  # one BS.1770 gating block
SEGMENT_S = 0.1  # hop of both the 400 ms gating blocks and the 3 s short-term windows
_CHUNK = 1 << 18

# BS.1770-4 K-weighting, analog prototype of the 48 kHz coefficients (stage 1 shelf, stage 2 RLB).
SHELF_HZ, SHELF_GAIN_DB, SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
SHELF_VB_EXPONENT = 0.4996667741545416
RLB_HZ, RLB_Q = 38.13547087602444, 0.5003270373238773


@lru_cache(maxsize=16)
def k_weighting(rate: int) -> iir.Sos:
    """The K-weighting biquads at `rate`; at 48 kHz they are BS.1770-4 Tables 1 and 2."""
    k = math.tan(math.pi * SHELF_HZ / rate)
    vh = 10 ** (SHELF_GAIN_DB / 20)
    vb = vh**SHELF_VB_EXPONENT
    a0 = 1.0 + k / SHELF_Q + k * k
    shelf = (
        (vh + vb * k / SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / SHELF_Q + k * k) / a0,
    )
    k = math.tan(math.pi * RLB_HZ / rate)
    a0 = 1.0 + k / RLB_Q + k * k
    # The standard's RLB numerator is exactly (1, -2, 1), not normalised by a0.
    rlb = (1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / RLB_Q + k * k) / a0)
    return (shelf, rlb)


@dataclass(frozen=True)
class Scan:
    """K-weighted energy (sum of squares, channel-weighted) of each whole 100 ms segment."""

    rate: int
    segments: np.ndarray  # float64, one value per segment

    def scaled(self, gain: float) -> Scan:
        """The scan of the same signal times a linear `gain` (no second filter pass)."""
        return Scan(self.rate, self.segments * (gain * gain))


def _bounds(n: int, rate: int) -> np.ndarray:
    count = int(n / (SEGMENT_S * rate) + 1e-9)
    return (np.arange(count + 1) * (SEGMENT_S * rate) + 1e-6).astype(np.int64)


def _channel_energy(
    x: np.ndarray, rate: int, bounds: np.ndarray, compiled: bool = False
) -> np.ndarray:
    """K-weighted energy of one channel between consecutive `bounds` (chunked: no full-length
    float64 copy of the signal); `compiled`: see `iir.compiled`."""
    sos = k_weighting(rate)
    state = None
    energy = np.zeros(len(bounds) + 1)
    for start in range(0, len(x), _CHUNK):
        y, state = iir.sosfilt(sos, x[start : start + _CHUNK], state, compiled=compiled)
        end = start + len(y)
        first = int(np.searchsorted(bounds, start, side="right"))  # segment holding `start`
        last = int(np.searchsorted(bounds, end, side="left"))
        cuts = np.concatenate([[0], bounds[first:last] - start])
        energy[first : first + len(cuts)] += np.add.reduceat(np.square(y, dtype=np.float64), cuts)
    return energy[1 : len(bounds)]  # before bounds[0] and after bounds[-1] are not segments


def scan(samples: np.ndarray, rate: int, weights: tuple[float, ...] | None = None) -> Scan:
    """K-weight once; `samples` is mono (n,) or (n, channels) with BS.1770 channel `weights`
    (1.0 for L, R, C; 1.41 for the surrounds)."""
    x = samples[:, None] if samples.ndim == 1 else samples
    weights = weights or (1.0,) * x.shape[1]
    bounds = _bounds(len(x), rate)
    energy = np.zeros(max(len(bounds) - 1, 0))
    for ch, weight in enumerate(weights):
        if weight:
            energy += weight * _energy(x[:, ch], rate, bounds)
    return Scan(rate, energy)


SCAN_PIECE_S = 120.0  # a long signal is K-weighted in pieces of this many seconds, on every core


def _energy(x: np.ndarray, rate: int, bounds: np.ndarray) -> np.ndarray:
    """`_channel_energy` of a long signal in fixed pieces of whole segments, forked onto every
    core: each piece is filtered from SETTLE_S before it, where the filter has forgotten what
    came earlier (the same numbers to float precision, on any number of cores)."""
    from audio import cores

    per = round(SCAN_PIECE_S / SEGMENT_S)
    count = len(bounds) - 1
    compiled = iir.compiled(len(x))
    if count <= 2 * per:
        return _channel_energy(x, rate, bounds, compiled)
    pieces = [(s, min(count, s + per)) for s in range(0, count, per)]
    data = (x, rate, bounds, compiled)
    return np.concatenate(list(cores.map_chunks(_energy_of_piece, pieces, data)))


def _energy_of_piece(piece: tuple[int, int]) -> np.ndarray:
    from audio import cores

    x, rate, bounds, compiled = cores.shared()
    first, last = piece
    warm = max(0, int(bounds[first]) - int(SETTLE_S * rate))
    part = x[warm : int(bounds[last])]
    return _channel_energy(part, rate, bounds[first : last + 1] - warm, compiled)


def _windows(s: Scan, segments: int) -> np.ndarray:
    """Mean square of every window of `segments` consecutive segments (hop one segment)."""
    if len(s.segments) < segments:
        return np.zeros(0)
    csum = np.concatenate([[0.0], np.cumsum(s.segments)])
    return (csum[segments:] - csum[:-segments]) / (segments * SEGMENT_S * s.rate)


def _lufs(z: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(z)


SETTLE_S = 0.3  # K-weighting forgets its past to below 1e-20 within this (38 Hz double pole)


def _rescan(y: np.ndarray, base: Scan, gain: float, starts: np.ndarray, ends: np.ndarray) -> Scan:
    """The scan of y, which equals `gain` x the signal of `base` except in [starts, ends):
    only segments within reach of a change are K-weighted again, each stretch from SETTLE_S
    earlier (where y's filter state is exactly the rescaled one's, to float precision)."""
    rate = base.rate
    bounds = _bounds(len(y), rate)
    count = len(bounds) - 1
    out = base.segments * (gain * gain)
    if len(starts) == 0 or count <= 0:
        return Scan(rate, out)
    settle = int(SETTLE_S * rate)
    first = np.clip(np.searchsorted(bounds, starts, side="right") - 1, 0, count)
    last = np.clip(np.searchsorted(bounds, ends + settle, side="left"), 0, count)  # exclusive
    touched = np.zeros(count + 1, np.int32)
    np.add.at(touched, first, 1)
    np.add.at(touched, last, -1)
    mask = np.cumsum(touched)[:count] > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    stretches = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    # each stretch is K-weighted on its own: in batches of about a scan piece, on every core
    per, size = round(SCAN_PIECE_S / SEGMENT_S), 0
    batches: list[list[tuple[int, int]]] = [[]]
    for s0, s1 in stretches:
        if size >= per:
            batches.append([])
            size = 0
        batches[-1].append((s0, s1))
        size += s1 - s0
    from audio import cores

    data = (y, rate, bounds, iir.compiled(len(y)))
    done = cores.map_chunks(_rescan_batch, batches, data, len(batches) > 1)
    for batch, energies in zip(batches, done, strict=True):
        for (s0, s1), energy in zip(batch, energies, strict=True):
            out[s0:s1] = energy
    return Scan(rate, out)


def _rescan_batch(stretches: list[tuple[int, int]]) -> list[np.ndarray]:
    """The K-weighted energy of each stretch of segments of the shared (y, rate, bounds), each
    filtered from SETTLE_S before it."""
    from audio import cores

    y, rate, bounds, compiled = cores.shared()
    settle = int(SETTLE_S * rate)
    out = []
    for s0, s1 in stretches:
        warm = max(0, int(bounds[s0]) - settle)
        part = y[warm : int(bounds[s1])]
        out.append(_channel_energy(part, rate, bounds[s0 : s1 + 1] - warm, compiled))
    return out


def integrated_from(s: Scan) -> float:
    """Gated integrated loudness (BS.1770-4): absolute gate -70 LUFS, relative gate -10 LU."""
    z = _windows(s, round(MIN_LOUDNESS_S / SEGMENT_S))
    if len(z) == 0:
        raise ValueError(f"loudness needs at least {MIN_LOUDNESS_S} s of audio")
    gated = z[_lufs(z) > -70.0]
    if len(gated) == 0:
        return float("-inf")
    gate = float(_lufs(gated.mean())) - 10.0
    gated = gated[_lufs(gated) > gate]
    return float(_lufs(gated.mean()))


def range_from(s: Scan) -> float | None:
    """EBU Tech 3342 loudness range: 3 s windows at 10 Hz, gates -70 LUFS and -20 LU, P95 - P10;
    None below 3 s or when everything is gated."""
    st = _lufs(_windows(s, round(3.0 / SEGMENT_S)))
    st = st[st > -70.0]
    if len(st) == 0:
        return None
    gate = float(_lufs(float(np.mean(10 ** ((st + 0.691) / 10))))) - 20.0
    st = st[st > gate]
    if len(st) == 0:
        return None
    return float(np.percentile(st, 95) - np.percentile(st, 10))


def integrated_loudness(
    samples: np.ndarray, rate: int, weights: tuple[float, ...] | None = None
) -> float:
    """Integrated loudness in LUFS; -inf for silence; ValueError under one 400 ms block."""
    return integrated_from(scan(samples, rate, weights))


def loudness_range(samples: np.ndarray, rate: int) -> float | None:
    """Loudness range in LU (EBU Tech 3342); None when undefined."""
    return range_from(scan(samples, rate))


# --- true peak -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _interpolator() -> tuple[np.ndarray, np.ndarray]:
    """(offsets, taps[offset, phase]) of resample_poly's 4x filter: firwin(81, 1/4, kaiser 5)."""
    n_taps, up = 81, 4
    m = np.arange(n_taps) - (n_taps - 1) / 2
    h = 0.25 * np.sinc(0.25 * m) * np.kaiser(n_taps, 5.0)
    h = h / h.sum() * up
    offsets = np.arange(-10, 11)
    taps = np.zeros((len(offsets), up))
    for i, d in enumerate(offsets):
        for p in range(up):
            j = p + (n_taps - 1) // 2 - up * d
            if 0 <= j < n_taps:
                taps[i, p] = h[j]
    return offsets, taps.astype(np.float32)


def _reach() -> float:
    """Largest possible |interpolated| / largest |sample| in reach (L1 norm of a phase)."""
    return float(np.abs(_interpolator()[1]).sum(axis=0).max())


def _dilate(idx: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    """Sorted indices in [0, n) within `offsets` of any index in the sorted `idx` (a mask over
    their span only, not over the whole signal)."""
    if len(idx) == 0:
        return idx
    lo = max(0, int(idx[0]) + int(offsets.min()))
    hi = min(n, int(idx[-1]) + int(offsets.max()) + 1)
    mask = np.zeros(max(hi - lo, 0), dtype=bool)
    for d in offsets:
        shifted = idx + (d - lo)
        mask[shifted[(shifted >= 0) & (shifted < len(mask))]] = True
    return np.flatnonzero(mask) + lo


def _peaks_at(samples: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per-sample true peak at sorted sample indices `idx`: max |.| over the sample and its 3
    interpolated successors (zeros outside the signal, as resample_poly pads).

    The neighbourhoods of `idx` are copied once into a compact signal, in which every index of
    `idx` has its whole filter reach contiguous; the 4 phases are then 21 shifted multiply-adds.
    """
    offsets, taps = _interpolator()
    n, reach = len(samples), int(offsets.max())
    if len(idx) == 0:
        return np.zeros(0, np.float32)
    ext = _dilate(idx, offsets, n + reach) if n else idx  # may run past the end: zeros there
    # ext reaches index 0 whenever an idx is near the start: the leading zeros stand in for x[<0]
    compact = np.zeros(len(ext) + 2 * reach, np.float32)
    inside = ext < n
    compact[reach : reach + len(ext)][inside] = samples[ext[inside]]
    pos = np.searchsorted(ext, idx) + reach
    width = len(compact) - 2 * reach
    best = np.abs(samples[idx]).astype(np.float32)
    for p in range(taps.shape[1]):
        y = np.zeros(width, np.float32)
        for d, w in zip(offsets.tolist(), taps[:, p].tolist(), strict=True):
            if w:
                y += np.float32(w) * compact[reach + d : reach + d + width]
        np.maximum(best, np.abs(y[pos - reach]), out=best)
    return best


def _candidates(samples: np.ndarray, floor: float, start: int, end: int) -> np.ndarray:
    """Sorted sample indices in [start, end) whose per-sample true peak may reach `floor` (all
    others cannot)."""
    offsets, _ = _interpolator()
    threshold = floor / _reach()
    lo, hi = max(0, start + int(offsets.min())), min(len(samples), end + int(offsets.max()))
    hits = [
        np.flatnonzero(np.abs(samples[s : min(s + _CHUNK, hi)]) >= threshold) + s
        for s in range(lo, hi, _CHUNK)
    ]
    loud = np.concatenate(hits) if hits else np.zeros(0, np.int64)
    near = _dilate(loud, -offsets, len(samples))  # n is in reach of loud sample k when k = n + d
    return near[(near >= start) & (near < end)]


def sample_peak(samples: np.ndarray) -> float:
    """Largest |sample|, without an |x| copy of the signal."""
    if len(samples) == 0:
        return 0.0
    return max(float(samples.max()), -float(samples.min()))


_SCAN = 1 << 22  # samples per block of the true-peak scan: its work arrays stay small


def _peak_scan(samples: np.ndarray, depth_db: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Max true peak (linear) plus the (index, per-sample peak) of every sample within
    `depth_db` of it: only those can ever need limiting, so nothing is oversampled twice."""
    peak = sample_peak(samples)
    if peak <= 0:
        return 0.0, np.zeros(0, np.int64), np.zeros(0, np.float32)
    # The sample peak is a lower bound of the true peak, so one pass over these candidates
    # finds the true peak and everything within depth_db of it.
    floor = peak * 10 ** (-depth_db / 20)
    from audio import cores

    blocks = range(0, len(samples), _SCAN)  # forked onto every core when there are several
    found = list(cores.map_chunks(_peaks_of_block, blocks, (samples, floor), len(blocks) > 1))
    idx = np.concatenate([i for i, _ in found])
    vals = np.concatenate([v for _, v in found])
    tp = max(peak, float(vals.max())) if len(vals) else peak
    keep = vals >= tp * 10 ** (-depth_db / 20)
    return tp, idx[keep], vals[keep]


def _peaks_of_block(start: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, per-sample true peak) of the samples of one block that may reach the floor."""
    from audio import cores

    samples, floor = cores.shared()
    idx = _candidates(samples, floor, start, min(len(samples), start + _SCAN))
    vals = _peaks_at(samples, idx)
    return idx[vals >= floor], vals[vals >= floor]


def true_peak(samples: np.ndarray) -> float:
    """True peak in dBTP (BS.1770-4 annex 2, 4x oversampling); -inf for digital silence."""
    tp, _, _ = _peak_scan(samples, 0.0)
    return 20 * math.log10(tp) if tp > 0 else float("-inf")


def _true_peak_near(samples: np.ndarray, idx: np.ndarray) -> float:
    """True peak (dBTP) over the reach of the sorted sample indices `idx` only; the indices of
    each true-peak block are looked at apart, on every core when there are several."""
    if len(idx) == 0 or len(samples) == 0:
        return float("-inf")
    from audio import cores

    cuts = [*np.searchsorted(idx, np.arange(0, len(samples), _SCAN)).tolist(), len(idx)]
    parts = [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    peaks = cores.map_chunks(_peak_near_block, parts, (samples, idx), len(parts) > 1)
    peak = max(peaks)
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def _peak_near_block(part: tuple[int, int]) -> float:
    """The largest per-sample true peak within reach of idx[first:last] of the shared
    (samples, idx)."""
    from audio import cores

    samples, idx = cores.shared()
    offsets, _ = _interpolator()
    near = _dilate(idx[part[0] : part[1]], -offsets, len(samples))
    return float(_peaks_at(samples, near).max())


@dataclass(frozen=True)
class Levels:
    """Loudness (LUFS; None under 0.4 s, -inf for silence), range (LU) and true peak (dBTP)."""

    lufs: float | None
    lra: float | None
    true_peak_dbtp: float


def levels(samples: np.ndarray, rate: int) -> Levels:
    """All three level measures with one K-weighting pass and one true-peak pass."""
    s = scan(samples, rate)
    lufs = integrated_from(s) if len(s.segments) >= MIN_LOUDNESS_S / SEGMENT_S else None
    return Levels(lufs, range_from(s), true_peak(samples))


# --- limiter and the loudness step ------------------------------------------------------------


def _sliding_min(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[i] = min(values[i - before : i + after + 1]), 1.0 beyond the ends (van Herk/Gil-Werman:
    two cumulative minima, no per-sample Python)."""
    w = before + after + 1
    n = len(values)
    total = -(-(n + w - 1) // w) * w
    padded = np.ones(total, dtype=values.dtype)
    padded[before : before + n] = values
    blocks = padded.reshape(-1, w)
    forward = np.minimum.accumulate(blocks, axis=1).reshape(-1)
    backward = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    return np.minimum(backward[:n], forward[w - 1 : w - 1 + n])


def _moving_average(values: np.ndarray, half: int) -> np.ndarray:
    """Centred mean over 2*half+1 samples, edges padded with the edge value."""
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    csum = np.concatenate([[0.0], np.cumsum(padded, dtype=np.float64)])
    size = 2 * half + 1
    return ((csum[size:] - csum[:-size]) / size).astype(np.float32)


LOOKAHEAD_MS, RELEASE_MS = 5.0, 60.0


def _reach_of(rate: int, lookahead_ms: float, release_ms: float) -> tuple[int, int]:
    la = max(1, int(rate * lookahead_ms / 1000))
    return la, max(la, int(rate * release_ms / 1000))


def _islands(idx: np.ndarray, la: int, rel: int, n: int) -> list[tuple[int, int, int, int]]:
    """(first, last) peak of each island of peaks apart by more than the envelope's reach, and
    the [start, end) samples its envelope reaches: only there is the envelope below 1."""
    breaks = np.flatnonzero(np.diff(idx) > 2 * (rel + 3 * la)) + 1
    firsts = np.concatenate([[0], breaks]).tolist()
    lasts = np.concatenate([breaks, [len(idx)]]).tolist()
    return [
        (f, last, max(0, int(idx[f]) - 2 * la), min(n, int(idx[last - 1]) + rel + la + 1))
        for f, last in zip(firsts, lasts, strict=True)
        if f < last
    ]


def _apply_limiter(
    read: Callable[[int, int], np.ndarray],
    rate: int,
    gain: float,
    ceiling: float,
    peaks: tuple[np.ndarray, np.ndarray],
    out: np.ndarray,
    lookahead_ms: float = LOOKAHEAD_MS,
    release_ms: float = RELEASE_MS,
) -> tuple[float, np.ndarray, int, int]:
    """out[island] = read(island) * gain * envelope, where `out` already holds the signal times
    `gain` and `read(start, end)` gives the unscaled signal; returns the deepest envelope gain
    (linear), and the limited sample indices with the envelope's reach before and after each.

    The required gain per sample comes from its 4x-oversampled peak. Holding the lowest
    requirement over [peak - look-ahead, peak + release], then a centred moving average of
    2*look-ahead+1 samples, gives a smooth envelope at or below the requirement at every peak:
    no hard clipping.

    Islands of peaks never share a sample of envelope: those of each true-peak block are
    limited apart, on every core when `out` is memory the forked workers can write.
    """
    from audio import cores

    idx, vals = peaks
    la, rel = _reach_of(rate, lookahead_ms, release_ms)
    over = vals * np.float32(gain) > ceiling
    idx, need_at = idx[over], np.minimum(1.0, ceiling / (vals[over] * gain)).astype(np.float32)
    islands = _islands(idx, la, rel, len(out))
    batches = [list(b) for _, b in itertools.groupby(islands, key=lambda i: i[2] // _SCAN)]
    data = (read, gain, idx, need_at, la, rel, out)
    parallel = len(batches) > 1 and cores.is_shared(out)
    deepest = min([1.0, *cores.map_chunks(_limit_islands, batches, data, parallel)])
    return deepest, idx, 2 * la, rel + la


def _limit_islands(islands: list[tuple[int, int, int, int]]) -> float:
    """The envelope of each island applied into the shared `out`; the deepest gain in them."""
    from audio import cores

    read, gain, idx, need_at, la, rel, out = cores.shared()
    n, margin, g32, deepest = len(out), rel + 3 * la, np.float32(gain), 1.0
    for first, last, start, end in islands:
        lo, hi = max(0, start - margin), min(n, end + margin)
        need = np.ones(hi - lo, dtype=np.float32)
        need[idx[first:last] - lo] = need_at[first:last]
        held = _sliding_min(need, rel, la)
        env = _moving_average(held, la)[start - lo : end - lo]
        np.multiply(read(start, end), env * g32, out=out[start:end])
        deepest = min(deepest, float(env.min()))
    return deepest


def limit(
    samples: np.ndarray,
    rate: int,
    ceiling_dbtp: float,
    lookahead_ms: float = LOOKAHEAD_MS,
    release_ms: float = RELEASE_MS,
) -> tuple[np.ndarray, float]:
    """Look-ahead peak limiter; returns (limited float32 samples, deepest gain reduction in dB)."""
    ceiling = 10 ** (ceiling_dbtp / 20)
    _, idx, vals = _peak_scan(samples, 60.0)
    out = samples.astype(np.float32)
    deepest, _, _, _ = _apply_limiter(
        lambda a, b: samples[a:b], rate, 1.0, ceiling, (idx, vals), out, lookahead_ms, release_ms
    )
    return out, -20 * math.log10(deepest)


class _Gain:
    """y = x * gain, again and again for new gains, in a second buffer or in x's own.

    In place, y is rescaled from the gain it holds, and the stretches the limiter may touch are
    kept unscaled aside (`read`): an hour of audio is one buffer, not two.
    """

    def __init__(self, x: np.ndarray, idx: np.ndarray, rate: int, in_place: bool) -> None:
        self.x, self.applied = x, 1.0
        self.y = x if in_place else np.empty(len(x), np.float32)
        la, rel = _reach_of(rate, LOOKAHEAD_MS, RELEASE_MS)
        spans = _islands(idx, la, rel, len(x)) if in_place else []
        self.kept = [(start, x[start:end].copy()) for _, _, start, end in spans]
        self.starts = [start for start, _ in self.kept]

    def set(self, gain: float) -> np.ndarray:
        x, y = self.x, self.y
        if y is not x:
            for s in range(0, len(x), _CHUNK):
                np.multiply(x[s : s + _CHUNK], np.float32(gain), out=y[s : s + _CHUNK])
            return y
        ratio = np.float32(gain / self.applied)
        for s in range(0, len(y), _CHUNK):
            y[s : s + _CHUNK] *= ratio
        for start, original in self.kept:
            np.multiply(original, np.float32(gain), out=y[start : start + len(original)])
        self.applied = gain
        return y

    def read(self, start: int, end: int) -> np.ndarray:
        if self.y is not self.x:
            return self.x[start:end]
        i = bisect.bisect_right(self.starts, start) - 1
        first, original = self.kept[i]
        return original[start - first : end - first]


def normalize(
    audio: Audio,
    target_lufs: float = -20.0,
    ceiling_dbtp: float = -3.0,
    tolerance_lu: float = 0.1,
    max_iterations: int = 8,
    max_limit_db: float = 4.0,
) -> tuple[Audio, Step]:
    """Gain to the target loudness; when that would break the true-peak ceiling, limit and make up.

    Limiting is capped at `max_limit_db` (more audibly squashes the voice: DNSMOS drops from
    about 6 dB of limiting on): a target that needs more is not forced; the step lands as close
    as the cap allows and says `target_reached: false`. Never hard clips.
    """
    out, step, _ = normalize_with_levels(
        audio, target_lufs, ceiling_dbtp, tolerance_lu, max_iterations, max_limit_db
    )
    return out, step


def normalize_with_levels(
    audio: Audio,
    target_lufs: float = -20.0,
    ceiling_dbtp: float = -3.0,
    tolerance_lu: float = 0.1,
    max_iterations: int = 8,
    max_limit_db: float = 4.0,
    in_place: bool = False,
) -> tuple[Audio, Step, Levels]:
    """`normalize`, plus the output's Levels, so the take's metrics need no second pass.

    `in_place`: the output is written over `audio`'s samples (for a chain that owns them).
    """
    x, rate = audio.samples, audio.rate
    if audio.duration < MIN_LOUDNESS_S:
        raise AudioError(
            audio.source or "<audio>",
            f"too short to measure loudness ({audio.duration:.2f} s; BS.1770 needs "
            f"at least {MIN_LOUDNESS_S} s)",
        )
    source_scan = scan(x, rate)
    before_lufs = integrated_from(source_scan)
    if not math.isfinite(before_lufs):
        raise AudioError(audio.source or "<audio>", "silent: loudness below the -70 LUFS gate")
    peak_max, idx, vals = _peak_scan(x, max_limit_db + 1.0)
    before_tp = 20 * math.log10(peak_max) if peak_max > 0 else float("-inf")
    params = {
        "target_lufs": target_lufs,
        "ceiling_dbtp": ceiling_dbtp,
        "max_limit_db": max_limit_db,
        "method": "BS.1770-4",
    }
    gain_db = target_lufs - before_lufs
    limited_db = 0.0
    tp = before_tp + gain_db  # gain is linear: the true peak moves with it exactly
    gained = _Gain(x, idx if tp > ceiling_dbtp else idx[:0], rate, in_place)
    # A clip that will be limited gets its gain in the first round below: one pass less over it
    y = gained.x if tp > ceiling_dbtp and max_iterations > 0 else gained.set(10 ** (gain_db / 20))
    iterations = 0
    out_scan = source_scan.scaled(10 ** (gain_db / 20))
    if tp > ceiling_dbtp:
        # Limit a little below the ceiling, then make up the lost loudness. Limiting flattens the
        # loudness-vs-gain curve, so the make-up gain follows a secant step, not a plain difference.
        ceiling = 10 ** ((ceiling_dbtp - 0.1) / 20)
        history: list[tuple[float, float]] = []
        # Never more limiting than the cap: the loudest peak may go at most max_limit_db over.
        gain_db = min(gain_db, 20 * math.log10(ceiling) + max_limit_db - before_tp)
        for attempt in range(1, max_iterations + 1):
            iterations = attempt
            gain = 10 ** (gain_db / 20)
            y = gained.set(gain)
            deepest, hits, before, after = _apply_limiter(
                gained.read, rate, gain, ceiling, (idx, vals), y
            )
            limited_db = -20 * math.log10(deepest)
            out_scan = _rescan(y, source_scan, gain, hits - before, hits + after)
            lufs = integrated_from(out_scan)
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
            gain_cap = 20 * math.log10(ceiling) + max_limit_db - before_tp
            if gain_db >= gain_cap - 1e-6 and tp <= ceiling_dbtp and lufs < target_lufs:
                break  # the target needs more limiting than the cap allows: stop here
            gain_db = min(gain_cap, gain_db + (target_lufs - lufs) / slope)
    lufs = integrated_from(out_scan)
    lra = range_from(out_scan)
    reached = bool(abs(lufs - target_lufs) <= tolerance_lu + 1e-9 and tp <= ceiling_dbtp)
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
            "target_reached": reached,
        },
    )
    return Audio(y, rate, audio.source), step, Levels(lufs, lra, tp)
