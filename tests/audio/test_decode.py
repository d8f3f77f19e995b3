from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import soxr
from audio_cases import ALL_CLIPS, MALE, read, write

from audio.chain import prepare
from audio.decode import decode, probe
from audio.metrics import measure
from audio.types import AudioError


@pytest.mark.parametrize("path", ALL_CLIPS, ids=lambda p: p.name[:20])
def test_sample_clips_decode_to_mono_float32(path):
    audio, info = decode(path)
    ref, rate = read(path)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.rate == rate == info.rate
    assert len(audio.samples) == len(ref)
    assert np.allclose(audio.samples, ref, atol=1e-6)


def test_stereo_48k_is_downmixed(tmp_path):
    x, rate = read(MALE)
    x48 = soxr.resample(x, rate, 48000).astype(np.float32)
    delayed = np.concatenate([np.zeros(240, np.float32), x48[:-240]])
    path = write(tmp_path / "stereo.wav", np.stack([x48, delayed], axis=1), 48000)
    audio, info = decode(path)
    assert info.channels == 2 and audio.rate == 48000
    assert audio.samples.ndim == 1 and len(audio.samples) == len(x48)
    assert np.allclose(audio.samples, (x48 + delayed) / 2, atol=1e-4)
    assert measure(audio, channels=info.channels).channels == 2


def test_m4a_decodes_through_ffmpeg(tmp_path, ffmpeg):
    m4a = tmp_path / "voice.m4a"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(MALE), "-c:a", "aac", "-b:a", "96k", str(m4a)],
        check=True,
    )
    audio, info = decode(m4a)
    assert info.rate == 16000 and audio.rate == 16000
    assert abs(audio.duration - 10.34) < 0.1
    assert measure(audio).speech_s > 8.0


def test_mp3_content_named_wav_decodes(tmp_path, ffmpeg):
    fake = tmp_path / "actually_mp3.wav"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(MALE), "-c:a", "libmp3lame", "-b:a", "128k",
         "-f", "mp3", str(fake)],
        check=True,
    )  # fmt: skip
    audio, _ = decode(fake)
    assert abs(audio.duration - 10.34) < 0.15
    assert measure(audio).speech_s > 8.0


def test_mp3_decodes_in_libsndfile_not_through_ffmpeg(tmp_path, ffmpeg):
    """libsndfile reads an hour of mp3 in a third of ffmpeg's time (benchmarks/bench_long.py);
    it names the format "MP3", which once sent every mp3 to ffmpeg."""
    import soundfile as sf

    mp3 = tmp_path / "voice.mp3"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(MALE), "-b:a", "128k", str(mp3)], check=True)
    audio, info = decode(mp3)
    assert info.format == "mp3" and abs(audio.duration - 10.34) < 0.15
    assert np.mean(audio.samples == sf.read(str(mp3), dtype="float32")[0]) > 0.5  # ffmpeg: 4 %


def test_text_named_wav_is_refused(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("these are my meeting notes, not audio\n" * 50)
    with pytest.raises(AudioError) as err:
        decode(fake)
    assert err.value.path == str(fake)
    assert "audio" in err.value.reason


def test_zero_byte_file_is_refused(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        decode(empty)


def test_truncated_flac_is_refused(tmp_path):
    data = MALE.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated"):
        decode(cut)


def test_nan_samples_are_refused(tmp_path):
    x, rate = read(MALE)
    x[5000:5010] = np.nan
    path = write(tmp_path / "nan.wav", x, rate, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        decode(path)


def test_size_and_duration_caps(tmp_path):
    with pytest.raises(AudioError, match="limit is"):
        probe(MALE, max_bytes=1000)
    with pytest.raises(AudioError, match="min; the limit"):
        decode(MALE, max_duration_s=5.0)


def test_one_sample_file_decodes_but_cannot_be_prepared(tmp_path):
    path = write(tmp_path / "one.wav", np.array([0.1], np.float32), 16000)
    audio, _ = decode(path)
    assert len(audio.samples) == 1
    with pytest.raises(AudioError, match="too short"):
        prepare(audio)


def test_a_truncated_mp3_is_refused_with_both_lengths(tmp_path):
    """A cut-short mp3 used to pass as ok with a third of its speech (issue 18)."""
    import subprocess

    import soundfile as sf

    from audio.decode import decode, ffmpeg_exe
    from audio.types import AudioError

    wav, mp3, cut = tmp_path / "a.wav", tmp_path / "a.mp3", tmp_path / "cut.mp3"
    x = (0.1 * np.sin(np.arange(16000 * 12) * 0.05)).astype(np.float32)
    sf.write(wav, x, 16000)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), "-b:a", "64k", str(mp3)],
                   check=True)  # fmt: skip
    assert abs(decode(mp3)[0].duration - 12.0) < 0.1  # the whole file is fine
    data = mp3.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(AudioError) as refused:
        decode(cut)
    assert refused.value.path == str(cut)
    assert re.search(
        r"truncated: \d+\.\d s decoded of the 1\d\.\d s its header declares", str(refused.value)
    )
