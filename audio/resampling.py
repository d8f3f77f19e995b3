"""soxr resampling of a long signal in fixed pieces on every core.

One soxr pass over an hour runs on one core. Pieces start where the input and output timelines
meet on a sample, and each is resampled with MARGIN_S of signal either side (beyond the filter's
reach), so the pieces joined are one pass's output to a few float32 roundings: soxr's own
processing blocks fall elsewhere in each piece. The pieces are fixed by the length, not the
cores: the same samples on any machine.
"""

from __future__ import annotations

import math

import numpy as np

PIECE_S = 120.0
MARGIN_S = 0.1


def resample(samples: np.ndarray, rate: int, to_rate: int, quality: str) -> np.ndarray:
    """`samples` at `to_rate`, float32; in one pass when it makes two pieces or fewer."""
    import soxr

    period, _ = _periods(rate, to_rate)
    per = max(1, round(PIECE_S * rate) // period) * period
    starts = range(0, len(samples), per)
    if len(starts) <= 2:
        out = soxr.resample(samples, rate, to_rate, quality=quality)
        return np.asarray(out, dtype=np.float32)
    from audio import cores

    out = cores.shared_empty(len(samples) * to_rate // rate + 2)
    pieces = [(a, min(len(samples), a + per)) for a in starts]
    data = (samples, rate, to_rate, quality, out)
    written = list(cores.map_chunks(_piece, pieces, data))
    return out[: pieces[-1][0] // period * _periods(rate, to_rate)[1] + written[-1]]


def _periods(rate: int, to_rate: int) -> tuple[int, int]:
    """(input, output) samples after which both timelines meet on a sample again."""
    g = math.gcd(rate, to_rate)
    return rate // g, to_rate // g


def _piece(piece: tuple[int, int]) -> int:
    """Input [start, stop) of the shared (samples, rate, to_rate, quality, out) resampled into
    `out`; how many output samples it made."""
    import soxr

    from audio import cores

    samples, rate, to_rate, quality, out = cores.shared()
    start, stop = piece
    period, out_period = _periods(rate, to_rate)
    margin = -(-round(MARGIN_S * rate) // period) * period
    lo, hi = max(0, start - margin), min(len(samples), stop + margin)
    y = soxr.resample(samples[lo:hi], rate, to_rate, quality=quality)
    first = (start - lo) // period * out_period
    count = (stop - start) // period * out_period if hi < len(samples) else len(y) - first
    at = start // period * out_period
    out[at : at + count] = y[first : first + count]
    return count
