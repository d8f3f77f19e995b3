"""Cascaded biquad (IIR) filtering without importing scipy.signal, exact and fast.

Why: `import scipy.signal` costs about 1 s even from compiled bytecode, more than a whole one-file
`voxclone prepare` may take. What `scipy.signal.sosfilt` runs is a small C loop in an extension
module of its own (`scipy/signal/_sosfilt`), which needs numpy and scipy's base only: loaded by
itself (`_c_loop`, 20-50 ms) it runs a cascade about 2.7x faster than the numpy method below (an
hour at 44.1 kHz is K-weighted in 1 s of CPU instead of 2.9; a long recording is filtered four
times). A long signal's callers ask for it (`compiled(n)`); a short clip never loads it.

Otherwise the filter runs as a state-space system in blocks of `_BLOCK` samples: inside a block
the zero-state response is an FFT convolution with the (exact) first `_BLOCK` samples of the
impulse response, and the past enters through the 4-number state carried from block to block.
Both are the same recursion, to float64 rounding; a state goes back only to the method that made
it (`steady_state` and `sosfilt` with the same `compiled`).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_BLOCK = 1024
_BLOCKS_PER_PASS = 64  # 64k samples per FFT pass keeps temporaries small (no full-length float64)

Sos = tuple[tuple[float, float, float, float, float, float], ...]  # (b0, b1, b2, 1, a1, a2) rows


@dataclass(frozen=True, eq=False)
class _Plan:
    """Everything about one filter that does not depend on the signal."""

    spectrum: np.ndarray  # rfft of the first _BLOCK impulse-response samples, length 2*_BLOCK
    to_state: np.ndarray  # (_BLOCK, order): block input -> state contribution at block end
    from_state: np.ndarray  # (order, _BLOCK): state at block start -> output in the block
    carry: np.ndarray  # A**_BLOCK
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: float


def _state_space(sos: Sos) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A, B, C, D of the cascade (controllable canonical form per section, chained)."""
    a = np.zeros((0, 0))
    b = np.zeros((0, 1))
    c = np.zeros((1, 0))
    d = 1.0
    for b0, b1, b2, a0, a1, a2 in sos:
        b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
        sa = np.array([[-a1, -a2], [1.0, 0.0]])
        sb = np.array([[1.0], [0.0]])
        sc = np.array([[b1 - b0 * a1, b2 - b0 * a2]])
        n = a.shape[0]
        # section input = previous output = c x + d u
        na = np.zeros((n + 2, n + 2))
        na[:n, :n] = a
        na[n:, :n] = sb @ c
        na[n:, n:] = sa
        nb = np.vstack([b, sb * d])
        nc = np.hstack([b0 * c, sc])
        a, b, c, d = na, nb, nc, b0 * d
    return a, b, c, d


@lru_cache(maxsize=32)
def _plan(sos: Sos) -> _Plan:
    a, b, c, d = _state_space(sos)
    order = a.shape[0]
    from_state = np.empty((order, _BLOCK))
    row = c.copy()
    for k in range(_BLOCK):  # row = C A^k
        from_state[:, k] = row[0]
        row = row @ a
    impulse = np.empty(_BLOCK)
    impulse[0] = d
    impulse[1:] = (from_state[:, : _BLOCK - 1].T @ b)[:, 0]  # h[k] = C A^(k-1) B
    to_state = np.empty((_BLOCK, order))
    col = b.copy()
    for k in range(_BLOCK - 1, -1, -1):  # column for input k is A^(L-1-k) B
        to_state[k] = col[:, 0]
        col = a @ col
    carry = np.linalg.matrix_power(a, _BLOCK)
    spectrum = np.fft.rfft(impulse, 2 * _BLOCK)
    return _Plan(spectrum, to_state, from_state, carry, a, b, c, d)


COMPILED_MIN = 1 << 21  # samples (48 s at 44.1 kHz): from here the C loop pays for its loading


def compiled(n: int) -> bool:
    """Whether a signal of `n` samples is filtered by scipy's C loop: long enough, and found.
    Asked once per signal, so all its pieces are filtered alike, on any number of cores."""
    return n >= COMPILED_MIN and _c_loop() is not None


@cache
def _c_loop() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None:
    """scipy.signal's C loop over biquads, `_sosfilt(sos, x, zi)` (x and zi filtered in place,
    float64, C order, shapes (sections, 6), (1, n) and (1, sections, 2)), loaded without the
    scipy.signal package around it; None where it cannot be (numpy's block method then)."""
    name = "scipy.signal._sosfilt"
    module = sys.modules.get(name)
    try:
        if module is None:
            spec = importlib.util.find_spec("scipy")  # finds the folder, imports nothing
            folders = spec.submodule_search_locations if spec is not None else None
            if not folders:
                return None
            files = [Path(folders[0], "signal", "_sosfilt" + suffix)
                     for suffix in importlib.machinery.EXTENSION_SUFFIXES]  # fmt: skip
            path = next((f for f in files if f.is_file()), None)
            found = importlib.util.spec_from_file_location(name, path) if path else None
            if found is None or found.loader is None:
                return None
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
            sys.modules[name] = module  # scipy.signal, if imported later, takes this one
        loop: Any = module._sosfilt
    except (ImportError, OSError, AttributeError):
        return None
    return loop


@lru_cache(maxsize=32)
def _coefficients(sos: Sos) -> np.ndarray:
    rows = np.array(sos, dtype=np.float64).reshape(-1, 6)
    return np.ascontiguousarray(rows / rows[:, 3:4])  # a0 = 1, as the C loop assumes


def steady_state(sos: Sos, value: float, compiled: bool = False) -> np.ndarray:
    """The state of a filter that has seen `value` forever (no start-up transient), for `sosfilt`
    with the same `compiled`."""
    if compiled:  # scipy's transposed direct form II: each section's two delays
        zi = np.empty((len(sos), 2))
        level = value  # the section's input, the DC gains before it applied
        for i, (b0, b1, b2, _, a1, a2) in enumerate(_coefficients(sos).tolist()):
            out = level * (b0 + b1 + b2) / (1.0 + a1 + a2)
            zi[i, 1] = b2 * level - a2 * out
            zi[i, 0] = b1 * level - a1 * out + zi[i, 1]
            level = out
        return zi
    p = _plan(sos)
    eye = np.eye(p.a.shape[0])
    return np.linalg.solve(eye - p.a, p.b[:, 0] * value)


def settle(sos: Sos, tolerance: float = 1e-20) -> int:
    """Samples after which the filter's state has decayed to `tolerance` of what it was (its
    slowest pole): filtered from that far before, a piece of a signal comes out as if the whole
    signal had been filtered, to float rounding."""
    radius = float(np.abs(np.linalg.eigvals(_plan(sos).a)).max())
    return math.ceil(math.log(tolerance) / math.log(radius)) if 0 < radius < 1 else 0


def sosfilt(
    sos: Sos,
    x: np.ndarray,
    state: np.ndarray | None = None,
    out: np.ndarray | None = None,
    compiled: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Filter `x` (any float dtype) through the cascade; returns (y, final state).

    `out` (float32 or float64, may be `x` itself) receives y; passing the returned state to the
    next call filters a long signal piece by piece. `compiled` (where `compiled(n)` says so for
    the whole signal): scipy's C loop.
    """
    loop = _c_loop() if compiled else None
    if loop is not None:
        return _c_sosfilt(loop, sos, x, state, out)
    p = _plan(sos)
    s = np.zeros(p.a.shape[0]) if state is None else np.asarray(state, dtype=np.float64)
    n = len(x)
    y = (
        np.empty(n, dtype=np.float32 if x.dtype == np.float32 else np.float64)
        if out is None
        else out
    )
    step = _BLOCK * _BLOCKS_PER_PASS
    for start in range(0, n, step):
        seg = x[start : start + step]
        m = len(seg)
        nb = -(-m // _BLOCK)
        flat = np.zeros(nb * _BLOCK)
        flat[:m] = seg
        u = flat.reshape(nb, _BLOCK)
        zs = np.fft.irfft(np.fft.rfft(u, 2 * _BLOCK, axis=1) * p.spectrum, 2 * _BLOCK, axis=1)
        gains = u @ p.to_state  # (nb, order): each block's own contribution to its end state
        full = nb if m == nb * _BLOCK else nb - 1
        starts = _block_starts(p, s, gains[:full], nb)
        s = starts[full] if full < nb else p.carry @ starts[-1] + gains[-1]
        block_out = zs[:, :_BLOCK] + starts @ p.from_state
        y[start : start + m] = block_out.reshape(-1)[:m]
        if full < nb:  # last partial block: advance the state sample by sample's worth, exactly
            r = m - full * _BLOCK
            tail = u[full, :r]
            s = np.linalg.matrix_power(p.a, r) @ starts[full] + _partial_gain(p, tail)
    return y, s


_C_BLOCK = 1 << 16  # samples per call of the C loop: its float64 copy stays in cache


def _c_sosfilt(
    loop: Callable[[np.ndarray, np.ndarray, np.ndarray], None],
    sos: Sos,
    x: np.ndarray,
    state: np.ndarray | None,
    out: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    coeffs = _coefficients(sos)
    zi = np.zeros((1, len(coeffs), 2))
    if state is not None:
        zi[0] = state
    n = len(x)
    y = np.empty(n, np.float32 if x.dtype == np.float32 else np.float64) if out is None else out
    for start in range(0, n, _C_BLOCK):
        block = np.array(
            x[start : start + _C_BLOCK], dtype=np.float64, ndmin=2
        )  # filtered in place
        loop(coeffs, block, zi)
        y[start : start + block.shape[1]] = block[0]
    return y, zi[0]


def _block_starts(p: _Plan, s0: np.ndarray, gains: np.ndarray, count: int) -> np.ndarray:
    """State at the start of each of `count` blocks: x[i+1] = carry @ x[i] + gains[i], x[0] = s0,
    solved as a parallel prefix scan (log2(count) matrix products instead of a Python loop)."""
    x = np.empty((count, len(s0)))
    x[0] = s0
    x[1:] = gains[: count - 1]
    power = p.carry
    shift = 1
    while shift < count:
        x[shift:] += x[:-shift] @ power.T
        power = power @ power
        shift *= 2
    return x


def _partial_gain(p: _Plan, tail: np.ndarray) -> np.ndarray:
    """State contribution of a block shorter than _BLOCK: A^(r-1-k) B weights, from to_state."""
    r = len(tail)
    return tail @ p.to_state[_BLOCK - r :]


def butter_highpass(order: int, cutoff_hz: float, rate: int) -> Sos:
    """Butterworth high-pass as biquads (bilinear transform with pre-warping), like scipy's
    `butter(order, cutoff, 'highpass', fs=rate, output='sos')`; even orders only."""
    if order % 2 or order <= 0:
        raise ValueError("order must be a positive even number")
    k = math.tan(math.pi * cutoff_hz / rate)
    sections = []
    for i in range(order // 2):
        theta = math.pi * (2 * i + 1) / (2 * order)
        q = 1.0 / (2.0 * math.sin(theta))  # section Q of the Butterworth pole pair
        a0 = 1.0 + k / q + k * k
        sections.append(
            (
                1.0 / a0,
                -2.0 / a0,
                1.0 / a0,
                1.0,
                2.0 * (k * k - 1.0) / a0,
                (1.0 - k / q + k * k) / a0,
            )
        )
    return tuple(sections)
