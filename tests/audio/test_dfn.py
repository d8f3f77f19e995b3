"""The whole-clip DeepFilterNet3 port against libDF's own streaming runtime, on real noisy speech."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soxr
from audio_cases import NOISY, SAMPLES, read

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


def _long_noisy(seconds: float = 45.0) -> tuple[np.ndarray, np.ndarray, int]:
    """(clean, noisy at 5 dB SNR) of one LibriSpeech speaker's clips end to end, at 16 kHz."""
    parts = [read(p) for p in sorted((SAMPLES / "voices" / "libri-3080").glob("*.flac"))]
    rate = parts[0][1]
    clean = np.concatenate([x for x, _ in parts])
    clean = np.tile(clean, int(seconds * rate) // len(clean) + 1)[: int(seconds * rate)]
    noise = np.random.default_rng(7).standard_normal(len(clean)).astype(np.float32)
    gain = np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10**0.5)
    return clean, (clean + gain * noise).astype(np.float32), rate


@pytest.mark.integration  # long clip: 45 s through DFN3, twice
def test_long_clips_are_enhanced_in_chunks_as_well_as_in_one_pass():
    clean, noisy, rate = _long_noisy()
    assert len(noisy) > dfn.WHOLE_MAX_S * rate * 2  # at least three chunks
    chunked = dfn.enhance(noisy, rate)
    whole = dfn._enhance_whole(noisy, rate)
    assert chunked.shape == noisy.shape and chunked.dtype == np.float32
    # The recurrent state remembers more than the pre-roll: not the same samples, but close
    assert _error_db(chunked, whole) < -15
    # and as much noise removed (a chunk out of place or a missing fade would cost dBs here)
    gain_whole = _error_db(noisy, clean) - _error_db(whole, clean)
    gain_chunked = _error_db(noisy, clean) - _error_db(chunked, clean)
    assert gain_whole > 3 and gain_chunked > gain_whole - 0.5
    for _, start, _ in dfn._chunks(len(noisy), rate)[1:]:  # no click where chunks meet
        near = slice(start - rate // 10, start + round(dfn.FADE_S * rate) + rate // 10)
        assert _error_db(chunked[near], whole[near]) < -6


def test_delay_constant_matches_the_bundled_runtime():
    assert dfn.measure_delay() == dfn.DELAY


@pytest.mark.integration  # long clip: 45 s through DFN3, twice
@pytest.mark.parametrize("forked", [True, False], ids=["forked chunks", "chunks in this process"])
def test_a_long_clip_denoised_in_place_is_the_same_as_a_copy(forked):
    """Written over its own input (no second copy of an hour), a chunk must still read the
    original audio of its pre-roll: in this process (a flow's threads forbid forking) each chunk
    is written only after the next has read it."""
    _, noisy, rate = _long_noisy()
    stop = threading.Event()
    other = None if forked else threading.Thread(target=stop.wait)
    if other is not None:
        other.start()
    try:
        copy = dfn.enhance(noisy, rate, keep=0.25)
        x = noisy.copy()
        same = dfn.enhance(x, rate, keep=0.25, out=x)
    finally:
        stop.set()
    assert same is x
    np.testing.assert_allclose(x, copy, atol=1e-6)
    assert _error_db(copy, noisy) > -20  # it was denoised, not left as it was
