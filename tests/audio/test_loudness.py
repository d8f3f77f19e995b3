from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from conftest import ALL_CLIPS, ARCTIC, MALE, read
from scipy.signal import resample_poly

from audio.chain import Settings, prepare
from audio.decode import decode
from audio.loudness import integrated_loudness, loudness_range, normalize, true_peak
from audio.metrics import clipping_ratio
from audio.types import Audio, AudioError


def reference_true_peak(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(resample_poly(x.astype(np.float64), 4, 1)))))


@pytest.mark.parametrize("path", ALL_CLIPS, ids=lambda p: p.name[:20])
def test_meter_matches_pyloudnorm(path):
    x, rate = read(path)
    meter = pyloudnorm.Meter(rate)
    assert abs(integrated_loudness(x, rate) - meter.integrated_loudness(x.astype(float))) < 0.01
    assert abs(loudness_range(x, rate) - meter.loudness_range(x.astype(float))) < 0.01
    assert abs(true_peak(x) - reference_true_peak(x)) < 0.01


@pytest.mark.parametrize("path", ALL_CLIPS, ids=lambda p: p.name[:20])
def test_prepared_clips_hit_target_under_ceiling(path):
    settings = Settings()
    prepared = prepare(decode(path)[0], settings)
    y, rate = prepared.audio.samples, prepared.audio.rate
    lufs = pyloudnorm.Meter(rate).integrated_loudness(y.astype(float))
    assert abs(lufs - settings.target_lufs) <= 0.5
    assert reference_true_peak(y) <= settings.ceiling_dbtp + 0.01
    assert prepared.steps[-1].after["target_reached"] is True


def test_limiter_handles_transients_without_clipping():
    x, rate = read(ARCTIC)
    x = x.copy()
    for pos in (15000, 30000, 45000):  # three sharp clicks far above the speech
        x[pos : pos + 8] = np.array([0.9, -0.9] * 4, np.float32)
    out, step = normalize(Audio(x, rate), target_lufs=-16.0, ceiling_dbtp=-3.0)
    assert step.after["limited_db"] > 1.0
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(out.samples.astype(float)) + 16) <= 0.5
    assert reference_true_peak(out.samples) <= -3.0 + 0.01
    assert clipping_ratio(out.samples, peak_floor_db=-6.0) == 0.0  # no flat tops: not clipped


def test_gain_only_when_peaks_allow():
    x, rate = read(MALE)
    quiet = Audio(x * np.float32(0.05), rate)
    out, step = normalize(quiet, target_lufs=-30.0, ceiling_dbtp=-3.0)
    assert step.after["limited_db"] == 0.0
    assert abs(step.after["gain_db"] - (-30.0 - step.before["lufs"])) < 0.01
    assert abs(integrated_loudness(out.samples, rate) + 30.0) < 0.05


def test_clip_below_one_block_is_refused():
    x, rate = read(MALE)
    with pytest.raises(AudioError, match="too short to measure loudness"):
        normalize(Audio(x[: int(0.3 * rate)], rate, "short.wav"))


def test_unreachable_target_is_reported_not_forced():
    x, rate = read(MALE)
    out, step = normalize(Audio(x, rate), target_lufs=-8.0, ceiling_dbtp=-3.0)
    assert step.after["target_reached"] is False
    assert reference_true_peak(out.samples) <= -3.0 + 0.01
