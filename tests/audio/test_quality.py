"""DNSMOS P.835 scoring, its place in the chain, verdicts and take assembly."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from audio_cases import CLEAN_CLIPS, MALE, NOISY, read

from audio import quality
from audio.chain import Settings, prepare
from audio.decode import decode
from audio.metrics import measure, with_quality, with_speaker
from audio.profiles import PROFILES
from audio.takes import Clip, assemble
from audio.types import Audio
from audio.verdict import judge


@pytest.mark.parametrize("path", CLEAN_CLIPS, ids=lambda p: p.name[:20])
def test_clean_speech_scores_well_and_noisy_speech_badly(path):
    clean = quality.score(decode(path)[0])
    assert 2.5 < clean.ovrl < 4.0 and clean.sig > 3.0 and clean.bak > 3.5
    noisy = quality.score(decode(NOISY)[0])
    assert noisy.ovrl < 1.6 and noisy.bak < 2.0
    assert noisy.ovrl < clean.ovrl - 1.0


def test_score_does_not_depend_on_level_or_rate():
    x, rate = read(MALE)
    loud = quality.score(Audio(x, rate))
    quiet = quality.score(Audio(x * np.float32(10 ** (-35 / 20)), rate))
    assert abs(loud.ovrl - quiet.ovrl) < 0.01 and abs(loud.bak - quiet.bak) < 0.01
    import soxr

    up = quality.score(Audio(soxr.resample(x, rate, 44100).astype(np.float32), 44100))
    assert abs(loud.ovrl - up.ovrl) < 0.05


def test_windows_leave_less_than_a_second_unheard():
    n = int(30.5 * quality.RATE)
    starts = quality.window_starts(n)
    assert starts[0] == 0 and starts[-1] + quality.WINDOW == n
    unheard = sum(max(0, b - a - quality.WINDOW) for a, b in itertools.pairwise(starts))
    assert unheard < quality.RATE
    assert len(starts) == 4
    for seconds in (28.0, 27.5):  # 1 s or less beyond three windows: no fourth one
        starts = quality.window_starts(int(seconds * quality.RATE))
        gaps = [b - a - quality.WINDOW for a, b in itertools.pairwise(starts)]
        assert len(starts) == 3 and sum(max(0, g) for g in gaps) < quality.RATE
    ten = int(10.0 * quality.RATE)  # one window, as the reference lays it
    assert quality.window_starts(ten) == quality.window_starts(ten, hop_s=1.0) == [0]
    assert (
        len(quality.window_starts(n, hop_s=1.0)) == 21
    )  # the reference: 1 s hop, floor(30.5 - 9.01) + 1
    assert quality.window_starts(quality.WINDOW) == [0]


def test_chain_scores_only_when_asked():
    audio = decode(NOISY)[0]
    plain = prepare(audio)
    assert plain.quality is None and "quality" not in [s.name for s in plain.steps]
    scored = prepare(audio, Settings(quality=True))
    step = next(s for s in scored.steps if s.name == "quality")
    assert step.name == "quality" and scored.quality is not None
    assert step.before["ovrl"] < 1.6  # the noisy source
    assert step.after["ovrl"] == scored.quality.ovrl
    assert step.after["ovrl"] > step.before["ovrl"]  # denoising helped
    m = with_quality(measure(scored.audio), scored.quality)
    assert m.dnsmos_ovrl == scored.quality.ovrl and m.dnsmos_sig == scored.quality.sig


def test_verdict_warns_and_fails_on_poor_quality():
    base = replace(measure(decode(MALE)[0]), speech_s=8.0, loudness_lufs=-20.0, true_peak_dbtp=-3.0)
    assert judge(replace(base, dnsmos_ovrl=3.1), PROFILES["cartesia"]).level == "pass"
    warned = judge(replace(base, dnsmos_ovrl=2.0), PROFILES["cartesia"])
    assert warned.level == "warn" and any("DNSMOS 2.0" in r for r in warned.reasons)
    failed = judge(replace(base, dnsmos_ovrl=1.2), PROFILES["cartesia"])
    assert failed.level == "fail" and any("poor quality: DNSMOS 1.2" in r for r in failed.reasons)


@pytest.fixture(scope="module")
def voice(voice_clips) -> list[Clip]:
    return list(voice_clips[:4])


def test_takes_prefer_the_better_clips(voice):
    ranked = [replace(c, metrics=replace(c.metrics, dnsmos_ovrl=2.0)) for c in voice]
    best = voice[2]
    ranked[2] = replace(best, metrics=replace(best.metrics, dnsmos_ovrl=3.3))
    (take,) = assemble(ranked, PROFILES["cartesia"])
    assert take.parts[0].clip_id == best.id
    ranked[2] = replace(best, metrics=replace(best.metrics, dnsmos_ovrl=1.0))
    (take,) = assemble(ranked, PROFILES["cartesia"])
    assert take.parts[0].clip_id != best.id


def test_a_clip_of_another_speaker_is_never_in_a_take(voice):
    intruder = voice[0]
    marked = [replace(intruder, metrics=with_speaker(intruder.metrics, 0.12)), *voice[1:]]
    for provider in PROFILES:
        for take in assemble(marked, PROFILES[provider]):
            assert intruder.id not in {p.clip_id for p in take.parts}


_RETAINED = """
import sys, numpy as np
from audio import quality
from audio.types import Audio
from audio_cases import MALE, read
x, rate = read(MALE)
clip = np.tile(x, int(sys.argv[1]) * rate // len(x) + 1)[: int(sys.argv[1]) * rate]
quality._session(True), quality._session(False)  # both loaded, neither run yet
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
before = rss()
quality.score(Audio(clip, rate))
print((rss() - before) / 1e6)
"""


@pytest.mark.integration  # long clip: a 120 s clip scored in a fresh interpreter
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_a_long_clip_scored_leaves_no_window_of_activations_behind():
    """A clip long enough to be sampled is scored without onnxruntime's arena, which would keep
    one window's 180 MB of activations for the rest of the run (an hour's peak)."""
    tests = Path(__file__).resolve().parent
    run = [sys.executable, "-c", _RETAINED, "120"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parents[1])])}
    grown = float(subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout)
    assert grown < 100  # MB; with the arena, ~180 MB more
