"""The whole-clip DeepFilterNet3 port against libDF's own streaming runtime, on real noisy speech."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from conftest import MALE, NOISY, read

from audio import dfn


def _at_48k(path) -> np.ndarray:
    x, rate = read(path)
    return soxr.resample(x, rate, dfn.RATE, quality="HQ").astype(np.float32)


def _streamed(x48: np.ndarray, atten_lim_db: float = 100.0) -> np.ndarray:
    padded = np.concatenate([x48, np.zeros(dfn.DELAY, np.float32)])
    return dfn._stream(padded, atten_lim_db)[dfn.DELAY : dfn.DELAY + len(x48)]


def _error_db(y: np.ndarray, reference: np.ndarray) -> float:
    """Energy of the difference relative to the reference, in dB."""
    return float(10 * np.log10(np.mean((y - reference) ** 2) / np.mean(reference**2) + 1e-30))


@pytest.fixture(scope="module")
def noisy48() -> np.ndarray:
    return _at_48k(NOISY)


def test_whole_clip_pass_gives_the_streaming_runtimes_samples(noisy48):
    reference = _streamed(noisy48)
    y = dfn._whole(noisy48)
    assert y.shape == noisy48.shape and y.dtype == np.float32
    assert _error_db(y, reference) < -100  # float rounding, not a different enhancement
    assert np.abs(y - reference).max() < 1e-4
    # and it is an enhancement: a hop out of line would leave tens of dB, not rounding
    assert _error_db(np.roll(y, dfn.HOP), reference) > -60


def test_attenuation_limit_matches_the_runtimes(noisy48):
    y = dfn._whole(noisy48)
    lim = np.float32(10 ** (-12 / 20))
    assert _error_db(y * (1 - lim) + noisy48 * lim, _streamed(noisy48, 12.0)) < -100


def test_enhance_streams_long_clips_with_the_same_result(monkeypatch):
    x, rate = read(MALE)  # clean speech at 16 kHz: another input, through the public function
    whole = dfn.enhance(x, rate)
    monkeypatch.setattr(dfn, "WHOLE_MAX_S", 0.0)  # every clip is "long": libDF streams it
    streamed = dfn.enhance(x, rate)
    assert whole.shape == x.shape and _error_db(whole, streamed) < -80


def test_delay_constant_matches_the_bundled_runtime():
    assert dfn.measure_delay() == dfn.DELAY
