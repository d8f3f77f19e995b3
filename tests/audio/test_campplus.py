"""The CAM++ graph in onnxruntime against the network as written: same embedding on real speech."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import MALE

from audio import campplus, onnx, vad
from audio.decode import decode
from audio.onnx import graph_path

# --- the reference: BN applied as written, every conv a sum over its taps ---------------------


def _bn(x, w, name, affine=True):
    shape = (-1,) + (1,) * (x.ndim - 1)
    scale = 1.0 / np.sqrt(w[f"{name}.running_var"] + campplus.EPS_BN)
    shift = -w[f"{name}.running_mean"] * scale
    if affine:
        scale, shift = scale * w[f"{name}.weight"], shift * w[f"{name}.weight"] + w[f"{name}.bias"]
    return x * scale.reshape(shape) + shift.reshape(shape)


def _relu(x):
    return np.maximum(x, 0.0)


def _conv2d(x, k, stride=1):
    o, _, kh, kw = k.shape
    _, h, width = x.shape
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    h_out = (h + 2 * (kh // 2) - kh) // stride + 1
    out = np.zeros((o, h_out, width), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + stride * (h_out - 1) + 1 : stride, j : j + width]
            out += np.einsum("oc,chw->ohw", k[:, :, i, j], patch)
    return out


def _conv1d(x, k, stride=1, dilation=1, bias=None):
    size = k.shape[2]
    pad = (size - 1) // 2 * dilation
    xp = np.pad(x, ((0, 0), (pad, pad)))
    t_out = (x.shape[1] + 2 * pad - dilation * (size - 1) - 1) // stride + 1
    out = sum(
        k[:, :, i] @ xp[:, i * dilation : i * dilation + stride * (t_out - 1) + 1 : stride]
        for i in range(size)
    )
    return out if bias is None else out + bias[:, None]


def _res_block(x, w, name, stride):
    out = _relu(_bn(_conv2d(x, w[f"{name}.conv1.weight"], stride), w, f"{name}.bn1"))
    out = _bn(_conv2d(out, w[f"{name}.conv2.weight"]), w, f"{name}.bn2")
    if f"{name}.shortcut.0.weight" in w:
        out = out + _bn(_conv2d(x, w[f"{name}.shortcut.0.weight"], stride), w, f"{name}.shortcut.1")
    else:
        out = out + x
    return _relu(out)


def _cam(x, w, name, dilation):
    y = _conv1d(x, w[f"{name}.linear_local.weight"], dilation=dilation)
    t = x.shape[1]
    seg = np.concatenate(
        [
            np.repeat(x[:, s : s + 100].mean(axis=1, keepdims=True), min(100, t - s), axis=1)
            for s in range(0, t, 100)
        ],
        axis=1,
    )
    context = x.mean(axis=1, keepdims=True) + seg
    hidden = _relu(_conv1d(context, w[f"{name}.linear1.weight"], bias=w[f"{name}.linear1.bias"]))
    gate = _conv1d(hidden, w[f"{name}.linear2.weight"], bias=w[f"{name}.linear2.bias"])
    return y / (1.0 + np.exp(-gate))


def reference_forward(x16: np.ndarray) -> np.ndarray:
    """CAM++ as 3D-Speaker writes it, in float64, without folding, im2col or Winograd."""
    w = {k: v.astype(np.float64) for k, v in campplus.weights().items()}
    x = campplus.fbank(x16).T[None].astype(np.float64)
    x = _relu(_bn(_conv2d(x, w["head.conv1.weight"]), w, "head.bn1"))
    for layer in ("layer1", "layer2"):
        x = _res_block(x, w, f"head.{layer}.0", 2)
        x = _res_block(x, w, f"head.{layer}.1", 1)
    x = _relu(_bn(_conv2d(x, w["head.conv2.weight"], 2), w, "head.bn2"))
    x = x.reshape(-1, x.shape[2])
    x = _conv1d(x, w["xvector.tdnn.linear.weight"], stride=2)
    x = _relu(_bn(x, w, "xvector.tdnn.nonlinear.batchnorm"))
    for b, (layers, _, dilation) in enumerate(campplus.BLOCKS, start=1):
        for i in range(1, layers + 1):
            name = f"xvector.block{b}.tdnnd{i}"
            h = _relu(_bn(x, w, f"{name}.nonlinear1.batchnorm"))
            h = _relu(
                _bn(_conv1d(h, w[f"{name}.linear1.weight"]), w, f"{name}.nonlinear2.batchnorm")
            )
            x = np.concatenate([x, _cam(h, w, f"{name}.cam_layer", dilation)])
        name = f"xvector.transit{b}"
        x = _conv1d(_relu(_bn(x, w, f"{name}.nonlinear.batchnorm")), w[f"{name}.linear.weight"])
    x = _relu(_bn(x, w, "xvector.out_nonlinear.batchnorm"))
    stats = np.concatenate([x.mean(axis=1), x.std(axis=1, ddof=1)])[:, None]
    dense = _conv1d(stats, w["xvector.dense.linear.weight"])[:, 0]
    return _bn(dense, w, "xvector.dense.nonlinear.batchnorm", affine=False)


@pytest.fixture(scope="module")
def speech16() -> np.ndarray:
    audio, _ = decode(MALE)
    return vad.analysis_copy(audio.samples, audio.rate)


# 1.23 s and 2.00 s fit one CAM segment (61 and 99 frames after the TDNN); 3.3 s needs two, the
# second partial
@pytest.mark.parametrize("seconds", [2.0, 1.23, 3.3])
def test_forward_matches_the_straightforward_network(speech16, seconds):
    x16 = speech16[16000 : 16000 + int(seconds * 16000)]
    fast = campplus.forward(x16).astype(np.float64)
    ref = reference_forward(x16)
    cos = fast @ ref / (np.linalg.norm(fast) * np.linalg.norm(ref))
    assert cos > 0.99999
    assert np.abs(fast - ref).max() < 1e-4 * np.abs(ref).max()


def test_a_damaged_cached_graph_is_built_again(speech16, tmp_path, monkeypatch):
    monkeypatch.setenv("VOXCLONE_CACHE_DIR", str(tmp_path))
    path = graph_path(campplus.graph_name())
    path.write_bytes(b"half a graph")
    campplus._session.cache_clear()
    try:
        x16 = speech16[16000:40000]
        got = campplus.forward(x16).astype(np.float64)
    finally:
        campplus._session.cache_clear()
    ref = reference_forward(x16)
    assert got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)) > 0.99999
    assert path.stat().st_size > 10_000_000  # the weights are in it
    assert not list(tmp_path.glob("*.part"))


def test_a_cached_graph_is_run_without_importing_onnx(speech16, tmp_path):
    """Building the graph imports onnx (~1 s); every later process only reads the file."""
    env = os.environ | {"VOXCLONE_CACHE_DIR": str(tmp_path)}
    code = (
        "import sys, numpy as np; from audio import campplus; "
        "e = campplus.forward(np.load(sys.argv[1])); "
        "print('onnx' in sys.modules, float(np.linalg.norm(e)))"
    )
    np.save(tmp_path / "x.npy", speech16[16000:40000])
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "x.npy")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for _ in range(2)
    ]
    assert [r[0] for r in runs] == ["True", "False"]
    assert runs[0][1] == runs[1][1]


def test_windows_of_one_length_batched_match_one_at_a_time(speech16):
    """Batches of equal-length windows (and of lengths that differ by a sample or a frame) give
    each window the embedding it gets alone, in the order asked for."""
    starts = [16000 + 7919 * i for i in range(5)]
    segments = [speech16[a : a + 24000] for a in starts]
    segments += [speech16[40000:64001], speech16[40000:64160], speech16[1000:17000]]
    batched = campplus.forward_many(segments)
    alone = np.stack([campplus.forward(x) for x in segments])
    assert batched.shape == (8, 192)
    assert np.abs(batched - alone).max() < 1e-4 * np.abs(alone).max()
    assert np.abs(batched[0] - batched[1]).max() > 0.1 * np.abs(alone).max()  # not one repeated


def test_a_graph_is_named_for_its_weights_and_the_code_that_builds_it(tmp_path):
    """Other weights, or an edit to the code that builds the graph, is another cached file: no
    version number to remember to bump."""
    builder = tmp_path / "builder.py"
    builder.write_text("STEP = 1\n")
    module = types.ModuleType("builder")
    module.__file__ = str(builder)
    name = onnx.graph_name("campplus", "a" * 64, module)
    assert onnx.graph_name("campplus", "a" * 64, module) == name
    assert onnx.graph_name("campplus", "b" * 64, module) != name
    builder.write_text("STEP = 2\n")
    assert onnx.graph_name("campplus", "a" * 64, module) != name
    assert campplus.graph_name().startswith("campplus-")
