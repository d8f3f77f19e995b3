"""Cleaning that helps, or is not applied: the SNR gate, DeepFilterNet3, and the keep check."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from audio_cases import LJ, MALE, NOISY, SAMPLES, read

from audio import dfn, quality, speaker, steps
from audio.metrics import vad_snr
from audio.types import Audio

RATE = 44100
TARGETS = [
    SAMPLES / "voices" / "libri-3080" / "3080-5032-0002.flac",
    SAMPLES / "voices" / "libri-2414" / "2414-128291-0004.flac",
    MALE,
    LJ,
]
BABBLERS = [
    SAMPLES / "voices" / "libri-3080" / "3080-5032-0006.flac",
    SAMPLES / "voices" / "libri-2414" / "2414-128291-0002.flac",
    SAMPLES / "voices" / "libri-3080" / "3080-5032-0009.flac",
    SAMPLES / "voices" / "libri-2414" / "2414-128291-0005.flac",
]


def _load(path) -> np.ndarray:
    x, rate = read(path)
    return soxr.resample(x, rate, RATE).astype(np.float32)


def _mix(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    gain = np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (clean + gain * noise).astype(np.float32)


def _babble(n: int, seed: int = 0) -> np.ndarray:
    """Four other voices talking at once, each from a random point (no shared pauses)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, np.float32)
    for path in BABBLERS:
        x = _load(path)
        x = np.roll(np.tile(x, n // len(x) + 1), int(rng.integers(len(x))))[:n]
        out += x / np.sqrt(np.mean(x**2))
    return out


@pytest.mark.parametrize("path", TARGETS, ids=lambda p: p.name[:16])
def test_auto_gate_finds_babble_at_5db(path):
    clean = _load(path)
    noisy = _mix(clean, _babble(len(clean)), 5.0)
    snr = vad_snr(noisy, RATE)
    assert snr is not None and snr < 20.0
    assert vad_snr(clean, RATE) > snr + 5


def test_dfn3_removes_white_noise_in_line_with_the_input():
    clean = _load(MALE)
    noise = np.random.default_rng(3).standard_normal(len(clean)).astype(np.float32)
    noisy = _mix(clean, noise, 10.0)
    out = dfn.enhance(noisy, RATE)
    assert out.shape == noisy.shape and out.dtype == np.float32
    before = np.mean((noisy - clean) ** 2)
    after = np.mean((out - clean) ** 2)
    assert 10 * np.log10(before / after) > 3.0  # aligned (delay removed) and cleaner
    assert quality.score(Audio(out, RATE)).ovrl > quality.score(Audio(noisy, RATE)).ovrl + 0.5


@pytest.mark.parametrize("method", ["dfn3", "noisereduce"])
def test_kept_result_is_better_and_keeps_the_voice(method):
    clean = _load(TARGETS[2])
    noise = np.random.default_rng(5).standard_normal(len(clean)).astype(np.float32)
    noisy = Audio(_mix(clean, noise, 5.0), RATE, "noisy.wav")
    out, step = steps.denoise(noisy, "auto", method=method)
    after = step.after
    assert step.params["method"] == method and after["reason"].startswith("SNR")
    assert after["candidates"][0]["limit_db"] == "input"
    assert after["decision"].startswith("kept" if after["applied"] else "discarded")
    if after["applied"]:
        q_in = quality.score(noisy).ovrl
        q_out = quality.score(out).ovrl
        assert q_out >= q_in + steps.KEEP_MIN_GAIN - 0.01
        cos = speaker.cosine(speaker.embed(noisy), speaker.embed(out))
        assert cos >= steps.KEEP_MIN_VOICE_COS - 0.01
    else:
        assert out is noisy


def test_dfn3_is_kept_on_the_bundled_noisy_clip():
    x, rate = read(NOISY)
    _, step = steps.denoise(Audio(x, rate), "auto")
    assert step.after["applied"] is True and step.params["method"] == "dfn3"
    candidates = step.after["candidates"]
    (chosen,) = [c for c in candidates[1:] if c["limit_db"] == step.after["limit_db"]]
    assert chosen["dnsmos_ovrl"] >= candidates[0]["dnsmos_ovrl"] + 0.1
    assert chosen["speaker_cosine"] >= 0.9
    # Bisection: a stronger candidate, when measured, moved the voice; fewer than all are embedded.
    stronger = candidates[1 : candidates.index(chosen)]
    assert all(c["speaker_cosine"] < 0.9 for c in stronger)
    assert len(candidates) - 1 < len(steps.STRENGTHS_DB)


def test_keep_check_listens_to_the_densest_speech():
    """One DNSMOS window of the clip, where the speech is: a long lead-in of noise is skipped."""
    x, rate = read(MALE)
    noise = (1e-3 * np.random.default_rng(2).standard_normal(rate * 12)).astype(np.float32)
    padded = Audio(np.concatenate([noise, x]), rate)
    span, prob = steps._excerpt(padded, None)
    assert (span.stop - span.start) / rate == pytest.approx(quality.WINDOW / quality.RATE, abs=0.04)
    assert span.start >= 11 * rate  # the window starts near the speech, not at 0 s
    assert len(prob) == quality.WINDOW // 512 and prob.max() > 0.9


def test_unknown_method_is_refused():
    x, rate = read(MALE)
    with pytest.raises(ValueError, match="dfn3 or noisereduce"):
        steps.denoise(Audio(x, rate), "always", method="magic")


@pytest.mark.integration  # long clip: 40 s through DFN3
def test_a_long_clip_is_denoised_whole_only_once_the_excerpt_says_keep(monkeypatch):
    """An hour whose denoised copy would be discarded must not pay for denoising the hour:
    the keep check denoises the excerpt (and its pre-roll) first, the whole clip only after."""
    clips = sorted((SAMPLES / "voices" / "libri-3080").glob("*.flac"))
    clean = np.concatenate([_load(p) for p in clips])[: 40 * RATE]
    assert len(clean) / RATE > dfn.WHOLE_MAX_S
    noise = np.random.default_rng(11).standard_normal(len(clean)).astype(np.float32)
    noisy = Audio(_mix(clean, noise, 5.0), RATE, "long.wav")
    seen: list[float] = []
    real = dfn.enhance

    def spy(samples: np.ndarray, rate: int, *args, **kwargs) -> np.ndarray:
        seen.append(len(samples) / rate)
        return real(samples, rate, *args, **kwargs)

    monkeypatch.setattr(dfn, "enhance", spy)
    out, step = steps.denoise(noisy, "auto")
    assert step.after["applied"], step.after
    excerpt = quality.WINDOW / quality.RATE + dfn.PREROLL_S
    assert seen[0] <= excerpt + 0.01 and seen[1:] == [noisy.duration]
    assert out.samples.shape == noisy.samples.shape
    assert np.mean((out.samples - clean) ** 2) < np.mean((noisy.samples - clean) ** 2) / 2
