from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
from audio_cases import CLEAN_CLIPS, MALE, NOISY, noise, read, step

from audio import vad
from audio.chain import Prepared, Settings, prepare
from audio.decode import decode
from audio.metrics import measure
from audio.types import Audio, AudioError


def test_steps_are_in_order_and_json_serialisable():
    prepared = prepare(decode(MALE)[0])
    assert isinstance(prepared, Prepared)
    assert [s.name for s in prepared.steps] == [
        "highpass", "resample", "denoise", "trim", "loudness", "speakers"
    ]  # fmt: skip
    json.dumps([asdict(s) for s in prepared.steps], allow_nan=False)
    assert prepared.audio.rate == 44100 and prepared.audio.samples.dtype == np.float32


def test_padding_of_quiet_noise_is_trimmed_to_the_pad_without_losing_speech():
    x, rate = read(MALE)
    padded = np.concatenate([noise(2.0, rate, -60, 1), x, noise(2.0, rate, -60, 2)])
    settings = Settings()
    before = measure(Audio(padded, rate))
    prepared = prepare(Audio(padded, rate), settings)
    speech = vad.speech_intervals(prepared.audio.samples, prepared.audio.rate)
    assert abs(speech[0][0] - settings.pad_s) <= 0.03 + vad.FRAME_S
    assert abs((prepared.audio.duration - speech[-1][1]) - settings.pad_s) <= 0.03 + vad.FRAME_S
    assert abs(prepared.speech[0][0] - settings.pad_s) <= 0.03
    trimmed = step(prepared, "trim").after
    assert trimmed["trimmed_start_s"] > 2.0 and trimmed["trimmed_end_s"] > 2.0
    assert abs(measure(prepared.audio).speech_s - before.speech_s) <= 0.2


def test_long_pauses_are_shortened_never_speech():
    x, rate = read(MALE)
    gap = noise(3.0, rate, -60, 3)
    joined = np.concatenate([x, gap, x])
    prepared = prepare(Audio(joined, rate), Settings(max_pause_s=1.0, pause_to_s=0.5))
    after = step(prepared, "trim").after
    assert after["pauses_shortened"] >= 1
    assert after["pause_s_removed"] > 2.0
    before_speech = measure(Audio(joined, rate)).speech_s
    assert abs(measure(prepared.audio).speech_s - before_speech) <= 0.4
    gaps = [s1 - e0 for (_, e0), (s1, _) in zip(prepared.speech, prepared.speech[1:], strict=False)]
    assert max(gaps) <= 1.0


def test_noisy_sample_is_denoised_under_auto():
    prepared = prepare(decode(NOISY)[0])
    denoise = step(prepared, "denoise")
    assert denoise.after["applied"] is True
    assert denoise.before["snr_db"] < 20
    assert denoise.after["snr_db"] > denoise.before["snr_db"]


@pytest.mark.parametrize("path", CLEAN_CLIPS, ids=lambda p: p.name[:20])
def test_clean_samples_are_not_denoised_under_auto(path):
    denoise = step(prepare(decode(path)[0]), "denoise")
    assert denoise.after["applied"] is False
    assert denoise.before["snr_db"] >= 20


def test_denoise_modes_are_obeyed():
    audio = decode(MALE)[0]
    always = prepare(audio, Settings(denoise="always"))
    never = prepare(decode(NOISY)[0], Settings(denoise="never"))
    assert step(always, "denoise").after["applied"] is True
    assert step(never, "denoise").after["applied"] is False


def test_silence_has_no_speech():
    rate = 16000
    with pytest.raises(AudioError, match="no speech"):
        prepare(Audio(np.zeros(rate * 3, np.float32), rate, "silent.wav"))
    with pytest.raises(AudioError, match="no speech"):
        prepare(Audio(noise(3.0, rate, -70), rate, "hiss.wav"))


def test_custom_rate():
    prepared = prepare(decode(MALE)[0], Settings(target_rate=24000))
    assert prepared.audio.rate == 24000


@pytest.mark.parametrize("path", [MALE, NOISY], ids=["clean", "noisy"])
def test_a_file_is_prepared_as_its_decoded_audio_is(path):
    """prepare_file carries the source's Silero output through high-pass and resampling (the
    source metrics, the denoise SNR gate and the trim use it; after denoising the cleaned signal
    is heard again): the clip must be the one `prepare` makes of the decoded audio."""
    from audio.chain import prepare_file

    _, source, from_file = prepare_file(path, Settings())
    decoded = prepare(decode(path)[0], Settings())
    assert [asdict(s) for s in from_file.steps] == [asdict(s) for s in decoded.steps]
    assert from_file.speech == decoded.speech
    assert np.array_equal(from_file.audio.samples, decoded.audio.samples)
    assert step(from_file, "denoise").after["applied"] is (path == NOISY)
    assert step(from_file, "trim").after["duration_s"] < source.duration_s


def test_the_source_is_scored_beside_its_measures_as_on_its_own():
    """prepare_file scores the source's DNSMOS in a thread while it measures the source: the
    same score as scoring the decoded source alone, and the same prepared clip as `prepare`."""
    from dataclasses import asdict

    from audio import quality
    from audio.chain import prepare_file
    from audio.decode import decode

    _, _, prepared = prepare_file(MALE, Settings(quality=True))
    scored = next(s for s in prepared.steps if s.name == "quality")
    assert scored.before == asdict(quality.score(decode(MALE)[0]))
    alone = prepare(decode(MALE)[0], Settings(quality=True))
    assert [s.name for s in alone.steps] == [s.name for s in prepared.steps]
    assert prepared.quality == alone.quality


@pytest.mark.parametrize("path", [MALE, NOISY])
def test_silero_output_carried_through_the_trim_matches_a_fresh_run(path):
    """The prepared clip's metrics use Silero's output carried over the cuts; it must say what a
    fresh model run on the prepared audio says."""
    from audio.chain import prepare_file

    _, _, prepared = prepare_file(path, Settings())
    assert (
        step(prepared, "trim").after["pauses_shortened"]
        + step(prepared, "trim").after["trimmed_start_s"]
        > 0
    )  # something was cut, so the carry is exercised
    out = prepared.audio
    fresh = vad.speech_probabilities(out.samples, out.rate)
    assert abs(len(prepared.prob) - len(fresh)) <= 1
    n = min(len(fresh), len(prepared.prob))
    agree = np.mean(vad.hysteresis(fresh[:n]) == vad.hysteresis(prepared.prob[:n]))
    assert agree >= 0.95
    carried, measured = measure(out, prob=prepared.prob), measure(out)
    assert abs(carried.speech_s - measured.speech_s) <= 0.2
    assert abs(carried.snr_db - measured.snr_db) <= 1.5
