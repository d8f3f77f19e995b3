"""Speech detection: the same decisions at any recording level, and nothing found in non-speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_cases import ALL_CLIPS, SAMPLES, read, step, write

from audio import vad
from audio.chain import Settings, prepare
from audio.decode import decode
from audio.metrics import measure
from audio.types import Audio, AudioError

QUIET_CLIP = SAMPLES / "voices" / "libri-3080" / "3080-5032-0005.flac"
VOICE_CLIPS = sorted((SAMPLES / "voices").glob("*/*.flac"))
RATE = 16000


@pytest.mark.parametrize("path", [QUIET_CLIP, *ALL_CLIPS], ids=lambda p: p.name[:24])
def test_boundaries_agree_within_30ms_at_0_20_40_db(tmp_path: Path, path: Path):
    x, rate = read(path)
    results = []
    for gain_db in (0, -20, -40):
        wav = write(tmp_path / f"g{-gain_db}.wav", x * 10 ** (gain_db / 20), rate, "FLOAT")
        prepared = prepare(decode(wav)[0], Settings(denoise="never"))  # the VAD under test
        trim = step(prepared, "trim").after
        results.append((trim["trimmed_start_s"], trim["trimmed_end_s"], prepared.speech))
    (start0, end0, speech0), *others = results
    for start, end, speech in others:
        assert abs(start - start0) <= 0.03 and abs(end - end0) <= 0.03
        assert len(speech) == len(speech0)
        for (s0, e0), (s, e) in zip(speech0, speech, strict=True):
            assert abs(s - s0) <= 0.03 and abs(e - e0) <= 0.03


def _every_voice_clip() -> list:
    """Each speaker's first clip and the quietest one in the fast tier; the other 17 (the same
    check, 3 s of CPU) with the integration tests."""
    fast = {*{p.parent.name: p for p in reversed(VOICE_CLIPS)}.values(), QUIET_CLIP}
    return [
        pytest.param(p, id=p.name, marks=() if p in fast else pytest.mark.integration)
        for p in VOICE_CLIPS
    ]


@pytest.mark.parametrize("path", _every_voice_clip())
def test_bundled_speech_is_kept_even_when_quiet(path: Path):
    x, rate = read(path)
    loud = measure(Audio(x, rate))
    quiet = measure(Audio(x * np.float32(10 ** (-40 / 20)), rate))
    assert loud.speech_ratio > 0.6  # read speech: most of the clip is speech
    assert abs(quiet.speech_s - loud.speech_s) <= 0.1
    prepared = prepare(Audio(x * np.float32(0.01), rate, str(path)))
    kept = sum(e - s for s, e in prepared.speech)
    assert kept >= 0.97 * loud.speech_s


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.arange(len(spectrum)), 1)), n)
    return 0.1 * pink / pink.std()


def _music_loop(n: int, rng: np.random.Generator) -> np.ndarray:
    """Plucked chords on the beat with a noise-burst drum: music without a voice."""
    t = np.arange(RATE // 2) / RATE
    out = np.zeros(n)
    for k, start in enumerate(range(0, n, len(t))):
        seg = slice(start, min(n, start + len(t)))
        m = seg.stop - seg.start
        root = (261.6, 329.6, 392.0, 523.3)[k % 4]
        chord = sum(0.05 * np.sin(2 * np.pi * root * h * t[:m]) / h for h in (1, 1.25, 1.5, 2))
        drum = 0.2 * rng.standard_normal(m) * np.exp(-40 * t[:m])
        out[seg] = chord * np.exp(-3 * t[:m]) + drum
    return out


def _non_speech(kind: str, seconds: float = 12.0) -> np.ndarray:
    n = int(seconds * RATE)
    rng = np.random.default_rng(7)
    t = np.arange(n) / RATE
    signals = {
        "white noise": lambda: 0.1 * rng.standard_normal(n),
        "pink noise": lambda: _pink(n, rng),
        "50 Hz hum": lambda: sum(0.2 / k * np.sin(2 * np.pi * 50 * k * t) for k in range(1, 9)),
        "1 kHz tone": lambda: 0.3 * np.sin(2 * np.pi * 1000 * t),
        "music loop": lambda: _music_loop(n, rng),
        "silence": lambda: np.zeros(n),
    }
    return signals[kind]().astype(np.float32)


KINDS = ["white noise", "pink noise", "50 Hz hum", "1 kHz tone", "music loop", "silence"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gain_db", [0, -30])
def test_non_speech_is_refused_naming_the_file(kind: str, gain_db: int):
    x = _non_speech(kind) * np.float32(10 ** (gain_db / 20))
    name = f"{kind.replace(' ', '_')}.wav"
    with pytest.raises(AudioError, match="no speech found") as caught:
        prepare(Audio(x, RATE, name))
    assert caught.value.path == name
    assert measure(Audio(x, RATE)).speech_s == 0.0


def test_speech_inside_noise_is_still_found():
    x, rate = read(QUIET_CLIP)
    background = _non_speech("pink noise", len(x) / rate)[: len(x)] * np.float32(0.05)
    mixed = (x + background).astype(np.float32)
    clean = measure(Audio(x, rate)).speech_s
    assert measure(Audio(mixed, rate)).speech_s >= 0.9 * clean


def test_probabilities_are_scale_free():
    x, rate = read(QUIET_CLIP)
    x16 = vad.analysis_copy(x, rate)
    loud = vad.probabilities(x16)
    quiet = vad.probabilities(x16 * np.float32(1e-3))
    assert loud.max() > 0.9
    assert np.max(np.abs(loud - quiet)) < 0.02
