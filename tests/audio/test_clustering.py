"""How many people, judged on the recording's own spread: CAM++ windows of the bundled real voices,
clean and through a telephone line, where a fixed similarity calibrated on clean speech fails."""

from __future__ import annotations

import conversations as cv
import numpy as np
import pytest

from audio import clustering, turns, vad
from audio.types import Audio


def _windows(rec: cv.Recording) -> tuple[np.ndarray, list[str]]:
    """CAM++ embeddings of 1.5 s tiles of the recording's speech, and who speaks in each."""
    x16 = turns._levelled(Audio(rec.samples, cv.RATE))
    spans = vad.speech_intervals(x16, cv.RATE, None)
    windows = [w for s, e in spans for w in turns.tiles(s, e)]
    who = []
    for a, b in windows:
        share = {w: 0.0 for w in ("host", "guest")}
        for s, e, w in rec.truth:
            share[w] += max(0.0, min(b, e) - max(a, s))
        who.append(max(share, key=lambda k: share[k]))
    return turns.embed_windows(x16, windows), who


@pytest.fixture(scope="module", params=["clean", "telephone"])
def talks(request):
    channel = cv.CHANNELS[request.param]
    return {
        "one": _windows(channel(cv.monologue(6))),
        "two": _windows(channel(cv.conversation(turns=6))),
    }


def test_one_voice_is_one_speaker_in_every_channel(talks):
    embeddings, _ = talks["one"]
    assert len(embeddings) > 15
    assert clustering.cluster(embeddings).max() == 0


def test_two_voices_are_two_speakers_each_window_with_its_own(talks):
    embeddings, who = talks["two"]
    labels = clustering.cluster(embeddings)
    assert labels.max() == 1
    for person in ("host", "guest"):
        mine = labels[[w == person for w in who]]
        assert np.mean(mine == np.bincount(mine).argmax()) >= 0.9, person
    host = np.bincount(labels[[w == "host" for w in who]]).argmax()
    guest = np.bincount(labels[[w == "guest" for w in who]]).argmax()
    assert host != guest


def test_a_long_recording_takes_the_sparse_path_to_the_same_answer(talks, monkeypatch):
    embeddings, _ = talks["two"]
    dense = clustering.cluster(embeddings)
    monkeypatch.setattr(clustering, "DENSE_MAX", 10)
    assert not isinstance(clustering.affinity(embeddings), np.ndarray)
    sparse = clustering.cluster(embeddings)
    agree = max(np.mean(dense == sparse), np.mean(dense == 1 - sparse))
    assert agree >= 0.95


def test_separation_is_scale_free():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 8)) + np.r_[3.0, np.zeros(7)]
    b = rng.normal(size=(20, 8)) - np.r_[3.0, np.zeros(7)]
    x = np.vstack([a, b])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    mask = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    far = clustering.separation(x, mask, ~mask)
    assert far > clustering.SEPARATION
    shuffled = rng.permutation(mask)
    assert clustering.separation(x, shuffled, ~shuffled) < 1.0


def test_a_small_cluster_the_segmentation_held_apart_stays_apart(talks):
    embeddings, who = talks["two"]
    host = [i for i, w in enumerate(who) if w == "host"][:12]
    guest = [i for i, w in enumerate(who) if w == "guest"][:2]  # a 3 s reply: too small alone
    x = embeddings[host + guest]
    alone = clustering.cluster(x)
    assert alone.max() == 0  # two windows are not a person by themselves...
    groups = [(0, 1)] * 6 + [(1, 1)] * 6 + [(0, 2), (1, 2)]  # ...but the model heard them apart
    held = clustering.cluster(x, groups)
    assert held.max() == 1 and set(held[-2:]) == {1} and set(held[:-2]) == {0}
