from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_cases import ALL_CLIPS, ARCTIC, MALE, read
from scipy.signal import resample_poly

from audio.chain import Settings, prepare
from audio.decode import decode
from audio.loudness import integrated_loudness, loudness_range, normalize, true_peak
from audio.metrics import clipping_ratio
from audio.types import Audio, AudioError


def reference_true_peak(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(resample_poly(x.astype(np.float64), 4, 1)))))


def ffmpeg_ebur128(ffmpeg: str, x: np.ndarray, rate: int) -> tuple[float, float]:
    """(integrated LUFS, LRA) by ffmpeg's own EBU R128 meter, an independent implementation."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        sf.write(str(path), x, rate, subtype="FLOAT")
        err = subprocess.run(
            [ffmpeg, "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
            capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip
    lufs = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", err)[-1])
    lra = float(re.findall(r"LRA:\s+([\d.]+) LU", err)[-1])
    return lufs, lra


@pytest.mark.parametrize("path", ALL_CLIPS, ids=lambda p: p.name[:20])
def test_meter_agrees_with_ffmpeg_ebur128(path, ffmpeg):
    x, rate = read(path)
    lufs, lra = ffmpeg_ebur128(ffmpeg, x, rate)
    assert integrated_loudness(x, rate) == pytest.approx(lufs, abs=0.1)
    assert loudness_range(x, rate) == pytest.approx(lra, abs=0.15)  # ffmpeg prints 0.1 LU steps
    assert abs(true_peak(x) - reference_true_peak(x)) < 0.01


@pytest.mark.parametrize("path", ALL_CLIPS, ids=lambda p: p.name[:20])
def test_prepared_clips_hit_target_under_ceiling(path, ffmpeg):
    """On target within 0.2 LU, or, when that needs more limiting than the cap, exactly at the
    cap and saying so; true peak under the ceiling either way."""
    settings = Settings()
    prepared = prepare(decode(path)[0], settings)
    y, rate = prepared.audio.samples, prepared.audio.rate
    lufs, _ = ffmpeg_ebur128(ffmpeg, y, rate)
    after = next(s for s in prepared.steps if s.name == "loudness").after
    assert after["lufs"] == pytest.approx(lufs, abs=0.1)
    if after["target_reached"]:
        assert abs(lufs - settings.target_lufs) <= 0.2
    else:
        assert after["limited_db"] == pytest.approx(settings.max_limit_db, abs=0.3)
        assert lufs < settings.target_lufs
    assert reference_true_peak(y) <= settings.ceiling_dbtp + 0.01
    assert prepared.levels is not None and prepared.levels.lufs == pytest.approx(lufs, abs=0.1)


def test_limiter_handles_transients_without_clipping(ffmpeg):
    x, rate = read(ARCTIC)
    x = x.copy()
    for pos in (15000, 30000, 45000):  # three sharp clicks far above the speech
        x[pos : pos + 8] = np.array([0.9, -0.9] * 4, np.float32)
    out, step = normalize(Audio(x, rate), target_lufs=-16.0, ceiling_dbtp=-3.0, max_limit_db=20)
    assert step.after["limited_db"] > 1.0
    assert abs(ffmpeg_ebur128(ffmpeg, out.samples, rate)[0] + 16) <= 0.2
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


@pytest.mark.parametrize("cap_db", [2.0, 4.0, 6.0])
def test_limiting_is_capped_and_lands_as_close_as_the_cap_allows(cap_db, ffmpeg):
    """A target 10 dB louder than the peaks allow: exactly `cap_db` of limiting, no more, the
    loudness reached recorded truthfully, peaks under the ceiling, no flat tops."""
    x, rate = read(MALE)
    peak_room = -3.0 - true_peak(x)
    target = integrated_loudness(x, rate) + peak_room + 10.0
    out, step = normalize(Audio(x, rate), target_lufs=target, max_limit_db=cap_db)
    after = step.after
    assert after["target_reached"] is False
    assert cap_db - 0.3 <= after["limited_db"] <= cap_db + 0.05
    assert after["lufs"] == pytest.approx(ffmpeg_ebur128(ffmpeg, out.samples, rate)[0], abs=0.1)
    assert after["lufs"] < target - 3.0
    assert reference_true_peak(out.samples) <= -3.0 + 0.01
    assert clipping_ratio(out.samples, peak_floor_db=-6.0) == 0.0
    assert step.params["max_limit_db"] == cap_db


def test_a_small_overshoot_is_limited_within_the_cap_and_reached():
    x, rate = read(MALE)
    peak_room = -3.0 - true_peak(x)
    target = integrated_loudness(x, rate) + peak_room + 1.5  # needs about 1.5 dB of limiting
    out, step = normalize(Audio(x, rate), target_lufs=target, max_limit_db=4.0)
    assert step.after["target_reached"] is True
    assert 0.5 < step.after["limited_db"] <= 4.0
    assert integrated_loudness(out.samples, rate) == pytest.approx(target, abs=0.1)
    assert reference_true_peak(out.samples) <= -3.0 + 0.01


@pytest.mark.parametrize("room_db", [-6.0, 1.5, 10.0])  # no limiting, some, more than the cap
def test_in_place_normalising_gives_what_a_second_buffer_gives(room_db):
    """In place, the gain is rescaled from round to round and the limiter reads the stretches
    kept aside: the output must be the two-buffer one (within float rounding), step and all."""
    from audio.loudness import normalize_with_levels

    x, rate = read(MALE)
    x = np.concatenate([x, 0.3 * x, x[::-1]])  # islands of peaks in several places
    target = integrated_loudness(x, rate) + (-3.0 - true_peak(x)) + room_db
    two, step_two, levels_two = normalize_with_levels(Audio(x, rate), target_lufs=target)
    buffer = x.copy()
    one, step_one, levels_one = normalize_with_levels(
        Audio(buffer, rate), target_lufs=target, in_place=True
    )
    assert one.samples is buffer
    assert np.abs(one.samples - two.samples).max() < 1e-6
    assert step_one == step_two
    for got, want in zip(
        (levels_one.lufs, levels_one.lra, levels_one.true_peak_dbtp),
        (levels_two.lufs, levels_two.lra, levels_two.true_peak_dbtp),
        strict=True,
    ):
        assert got == pytest.approx(want, abs=1e-5)
    assert (step_two.after["limited_db"] > 0) == (room_db > 0)


@pytest.mark.integration  # long clip: six minutes, forked
def test_a_long_signal_is_measured_in_pieces_on_every_core_as_in_one_pass():
    """Six minutes at 16 kHz: three K-weighting pieces, each from SETTLE_S before it, and two
    true-peak blocks, forked; the same energies, loudness and true peak as one pass gives."""
    from audio import loudness

    x, rate = read(MALE)
    x16 = resample_poly(x.astype(np.float64), 16000, rate).astype(np.float32)
    rng = np.random.default_rng(3)
    reps = int(6 * 60 * 16000 / len(x16)) + 1
    long = np.concatenate([x16 * rng.uniform(0.2, 1.0) for _ in range(reps)])[: 6 * 60 * 16000]
    pieces = loudness.scan(long, 16000).segments
    whole = loudness._channel_energy(long, 16000, loudness._bounds(len(long), 16000))
    assert len(long) > loudness._SCAN and len(pieces) > 2 * 1200  # 2 blocks, 3 pieces
    np.testing.assert_allclose(pieces, whole, rtol=1e-7, atol=1e-12)
    assert true_peak(long) == pytest.approx(reference_true_peak(long), abs=0.01)


def test_verdict_says_when_the_capped_limiter_fell_short():
    from audio.metrics import measure
    from audio.profiles import PROFILES
    from audio.verdict import judge

    x, rate = read(MALE)
    out, step = normalize(Audio(x, rate), target_lufs=-10.0, max_limit_db=4.0)
    metrics = measure(out)
    plain = judge(metrics, PROFILES["cartesia"])
    told = judge(metrics, PROFILES["cartesia"], steps=[step])
    short = [r for r in told.reasons if "short of the -10 LUFS target" in r]
    assert len(short) == 1 and "more than 4 dB of peak limiting" in short[0]
    assert f"{step.after['lufs']:.1f} LUFS" in short[0]
    assert not any("short of the" in r for r in plain.reasons)
    assert told.level in ("warn", "fail")  # 4 dB of limiting leaves it far below -10 LUFS
