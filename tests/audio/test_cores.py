"""Work inside one long recording on every core: the same numbers as one core, on real speech."""

from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path

import conversations as cv
import numpy as np
import pytest

from audio import cores, resampling, turns, vad


def _serially(fn, *args):
    """Run fn with a second Python thread alive: map_chunks must then stay in this process."""
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        return fn(*args)
    finally:
        done.set()
        other.join()


def _whoami(_: int) -> int:
    import os

    return os.getpid()


def test_chunks_run_in_forked_processes_only_when_alone_and_worth_it():
    import os

    here = os.getpid()
    alone = threading.active_count() == 1 and (os.cpu_count() or 1) >= 2
    forked = set(cores.map_chunks(_whoami, range(8), None))
    assert (here not in forked) if alone else (forked == {here})  # earlier tests may leave threads
    assert set(_serially(lambda: list(cores.map_chunks(_whoami, range(8), None)))) == {here}
    assert set(cores.map_chunks(_whoami, range(8), None, parallel=False)) == {here}


def test_silero_in_fixed_chunks_gives_the_same_numbers_on_any_number_of_cores(monkeypatch):
    x = cv.monologue(4).samples  # ~35 s of real speech
    whole = vad.probabilities(x)
    monkeypatch.setattr(vad, "CHUNK_FRAMES", 300)  # ~10 s chunks
    parallel = vad.probabilities(x)
    serial = _serially(vad.probabilities, x)
    assert np.array_equal(parallel, serial)
    assert len(parallel) == len(whole)
    # the half second of warm-up before each chunk settles the state: decisions barely move
    same = np.mean(vad.hysteresis(parallel) == vad.hysteresis(whole))
    assert same > 0.99


def test_window_embeddings_are_the_same_in_forked_processes(monkeypatch):
    rec = cv.short_replies(host_clips=3)
    x16 = rec.samples
    windows = [w for s, e, _ in rec.truth for w in turns.tiles(s, e)]
    assert len(windows) >= 8
    monkeypatch.setattr(turns, "PARALLEL_MIN_WINDOWS", 4)
    parallel = turns.embed_windows(x16, windows)
    serial = _serially(turns.embed_windows, x16, windows)
    assert parallel.shape == (len(windows), 192)
    assert np.allclose(parallel, serial, atol=1e-6)


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_trimming_in_place_moves_the_kept_ranges_to_the_front(block):
    from audio.steps import _compact

    x = np.arange(100, dtype=np.float32)
    keep = [(3, 20), (25, 26), (40, 100)]
    expected = np.concatenate([x[a:b] for a, b in keep])
    out = _compact(x.copy(), keep, block)
    assert np.array_equal(out, expected)


def _first_of_shared(chunk: int) -> int:
    import time

    data = cores.shared()
    time.sleep(0.0005)  # the other threads run meanwhile
    return int(data[chunk])


def test_threads_mapping_at_once_each_read_their_own_data():
    """Clone tasks measure their takes in threads at once: one thread's data must never be
    another's (one read another's None and failed with "cannot unpack")."""
    import threading

    results: dict[int, list[int]] = {}

    def work(k: int) -> None:
        data = [k] * 50
        out = []
        for _ in range(10):
            out += list(cores.map_chunks(_first_of_shared, range(50), data))
        results[k] = out

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {k: set(v) for k, v in results.items()} == {k: {k} for k in range(4)}
    assert cores.shared() is None


# --- the chain's own steps on a long recording: pieces on every core, one pass's numbers ------
# Piece lengths are shrunk so ~55 s of the bundled voices makes several pieces (five of 10 s,
# more than the four a long file is decoded in); the run-ins, margins and alignment are the ones
# an hour gets. Every test here hears the one recording, built once.

FLOAT_NOISE = np.finfo(np.float32).eps  # one rounding of a float32 sample, relative to the peak


@pytest.fixture(scope="module")
def podcast_16k() -> np.ndarray:
    """Music, host and guest: 55.6 s at 16 kHz."""
    return cv.podcast(host_clips=5, guest_clips=3).samples


@pytest.fixture(scope="module")
def podcast_44k(podcast_16k) -> np.ndarray:
    import soxr

    return soxr.resample(podcast_16k, cv.RATE, 44100).astype(np.float32)


@pytest.fixture(scope="module")
def podcast_mp3(tmp_path_factory, podcast_44k) -> Path:
    import subprocess

    import imageio_ffmpeg
    import soundfile as sf

    folder = tmp_path_factory.mktemp("long")
    sf.write(folder / "podcast.wav", podcast_44k, 44100)
    mp3 = folder / "podcast.mp3"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(folder / "podcast.wav"),
                    "-b:a", "128k", str(mp3)], check=True)  # fmt: skip
    return mp3


def test_a_long_file_decodes_in_pieces_to_the_samples_of_one_pass(
    podcast_mp3, monkeypatch, tmp_path
):
    import subprocess

    import imageio_ffmpeg
    import soundfile as sf

    from audio import decode as dec

    info = dec.probe(podcast_mp3)
    one_pass = dec._read_blocks(podcast_mp3, info)
    monkeypatch.setattr(dec, "PIECE_MIN_S", 10.0)
    assert len(dec._pieces(len(one_pass), info.rate)) == dec.DECODE_PIECES
    audio, _ = dec.decode(podcast_mp3)
    assert cores.is_shared(audio.samples)  # the chain's later steps write into it from every core
    assert np.array_equal(audio.samples, _serially(dec._read_soundfile, podcast_mp3, info))
    assert len(audio.samples) == len(one_pass)
    # mpg123 rounds differently wherever a read starts (in blocks of 2^18 as well): a few ulps
    peak = float(np.abs(one_pass).max())
    assert np.abs(audio.samples - one_pass).max() <= 4 * FLOAT_NOISE * peak
    # a lossless file, and Ogg Vorbis: exactly the same samples
    flac = tmp_path / "podcast.flac"
    sf.write(flac, one_pass, info.rate, subtype="PCM_24")
    ogg = tmp_path / "podcast.ogg"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(flac),
                    "-c:a", "libvorbis", str(ogg)], check=True)  # fmt: skip
    stereo = tmp_path / "podcast-stereo.flac"  # mono is decoded into place, stereo downmixed
    sf.write(
        stereo, np.stack([one_pass, 0.5 * one_pass[::-1]], axis=1), info.rate, subtype="PCM_24"
    )
    for path in (flac, ogg, stereo):
        pieces, _ = dec.decode(path)
        assert cores.is_shared(pieces.samples)
        assert np.array_equal(pieces.samples, dec._read_blocks(path, dec.probe(path)))


def test_a_file_longer_or_shorter_than_its_header_decodes_as_in_one_pass(podcast_mp3, monkeypatch):
    from audio import decode as dec

    info = dec.probe(podcast_mp3)
    whole = dec._read_blocks(podcast_mp3, info)
    monkeypatch.setattr(dec, "PIECE_MIN_S", 10.0)

    class Header:  # soundfile's frame count, off by a second either way
        def __init__(self, real, change):
            self.real, self.change = real, change

        def __getattr__(self, name):
            return getattr(self.real, name)

        frames = property(lambda self: self.real.frames + self.change)

    import soundfile as sf

    real_open = sf.SoundFile
    for change in (-44100, 44100):
        monkeypatch.setattr(
            sf, "SoundFile", lambda *a, c=change, **k: _ctx(Header(real_open(*a, **k), c))
        )
        got = dec._read_soundfile(podcast_mp3, info)
        assert len(got) == len(whole)
        assert np.abs(got - whole).max() <= 4 * FLOAT_NOISE * float(np.abs(whole).max())


class _ctx:
    """A wrapped SoundFile that still works in a `with`."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *exc):
        self.f.real.close()

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_the_high_pass_in_pieces_is_one_pass_to_float_rounding(podcast_44k, monkeypatch):
    from audio import iir, steps
    from audio.types import Audio

    one_pass, step = steps.highpass(Audio(podcast_44k.copy(), 44100))
    monkeypatch.setattr(steps, "HIGHPASS_PIECE_S", 10.0)
    shared = cores.shared_empty(len(podcast_44k))
    shared[:] = podcast_44k
    pieces, piece_step = steps.highpass(Audio(shared, 44100), in_place=True)
    assert pieces.samples is shared  # written over the input, from every core
    peak = float(np.abs(one_pass.samples).max())
    assert np.abs(pieces.samples - one_pass.samples).max() <= FLOAT_NOISE * peak
    assert piece_step == step
    serial = _serially(lambda: steps.highpass(Audio(podcast_44k.copy(), 44100))[0].samples)
    assert np.array_equal(serial, pieces.samples)  # the same numbers on any number of cores
    # what makes it so: without the run-in, every piece starts from the wrong state
    monkeypatch.setattr(iir, "settle", lambda sos: 0)
    cold, _ = steps.highpass(Audio(podcast_44k.copy(), 44100))
    assert np.abs(cold.samples - one_pass.samples).max() > 1e3 * FLOAT_NOISE * peak


@pytest.mark.parametrize(
    ("rate", "to_rate", "quality"), [(44100, 16000, "MQ"), (48000, 44100, "HQ")]
)
def test_resampling_in_pieces_is_one_pass_to_float_rounding(
    rate, to_rate, quality, podcast_16k, monkeypatch
):
    """The analysis copy every measure hears (44.1 kHz to 16 kHz) and the chain's resample step
    (a 48 kHz recording to 44.1 kHz)."""
    import soxr

    speech = soxr.resample(podcast_16k, cv.RATE, rate).astype(np.float32)
    for n in (len(speech), len(speech) - 12_345):  # ends on and off a common sample
        x = speech[:n]
        one_pass = soxr.resample(x, rate, to_rate, quality=quality)
        monkeypatch.setattr(resampling, "PIECE_S", 10.0)
        pieces = resampling.resample(x, rate, to_rate, quality)
        assert cores.is_shared(pieces)
        assert np.array_equal(_serially(resampling.resample, x, rate, to_rate, quality), pieces)
        monkeypatch.undo()
        assert len(pieces) == len(one_pass)
        peak = float(np.abs(one_pass).max())
        assert np.abs(pieces - one_pass).max() <= 8 * FLOAT_NOISE * peak
    if to_rate == vad.VAD_RATE:  # what Silero's decisions are made of does not move
        prob = vad.probabilities(one_pass)
        assert np.array_equal(vad.raw_decisions(pieces, vad.frame_powers(pieces), prob),
                              vad.raw_decisions(one_pass, vad.frame_powers(one_pass), prob))  # fmt: skip


def test_the_loudness_step_in_pieces_and_blocks_is_one_pass_to_float_rounding(
    podcast_44k, monkeypatch
):
    from audio import loudness
    from audio.types import Audio

    x = podcast_44k * np.float32(4.0)  # loud: the limiter works all through, and is rescanned
    one_pass = loudness.normalize_with_levels(Audio(x.copy(), 44100), -14.0, -3.0)
    monkeypatch.setattr(loudness, "SCAN_PIECE_S", 2.0)
    monkeypatch.setattr(loudness, "_SCAN", 1 << 16)  # the limiter's islands in ~70 blocks
    shared = cores.shared_empty(len(x))
    shared[:] = x
    pieces = loudness.normalize_with_levels(Audio(shared, 44100), -14.0, -3.0, in_place=True)
    assert pieces[0].samples is shared
    assert one_pass[1].after["limited_db"] > 1.0
    assert pieces[1] == one_pass[1]
    for a, b in zip(asdict(pieces[2]).values(), asdict(one_pass[2]).values(), strict=True):
        assert a == pytest.approx(b, abs=1e-9)
    peak = float(np.abs(one_pass[0].samples).max())
    assert np.abs(pieces[0].samples - one_pass[0].samples).max() <= FLOAT_NOISE * peak


def test_a_long_mp3_prepares_in_pieces_as_in_one_pass(podcast_mp3, monkeypatch):
    """The whole chain with every piece shrunk against every piece grown past the recording:
    the same steps, speech, levels and measures, and samples equal to float rounding."""
    from audio import decode as dec
    from audio import loudness, steps
    from audio.chain import Settings, prepare_file

    def run():
        _, source, prepared = prepare_file(podcast_mp3, Settings(speaker_turns=False))
        return asdict(source), [asdict(s) for s in prepared.steps], prepared

    sizes = [(dec, "PIECE_MIN_S"), (steps, "HIGHPASS_PIECE_S"), (resampling, "PIECE_S"),
             (loudness, "SCAN_PIECE_S")]  # fmt: skip
    for module, name in sizes:
        monkeypatch.setattr(module, name, 1e6)
    source, records, one_pass = run()
    for module, name in sizes:
        monkeypatch.setattr(module, name, 10.0)
    source_p, records_p, pieces = run()
    assert source_p == source and records_p == records
    assert pieces.speech == one_pass.speech
    for a, b in zip(asdict(pieces.levels).values(), asdict(one_pass.levels).values(), strict=True):
        assert a == pytest.approx(b, abs=1e-6)  # the decoded samples differ by ulps
    peak = float(np.abs(one_pass.audio.samples).max())
    assert np.abs(pieces.audio.samples - one_pass.audio.samples).max() <= 8 * FLOAT_NOISE * peak


def test_dnsmos_of_a_long_clip_scores_its_windows_on_every_core(podcast_44k, monkeypatch):
    from audio import quality
    from audio.types import Audio

    monkeypatch.setattr(quality, "MAX_WINDOWS", 4)  # an hour's ten windows would need 100 s
    audio = Audio(podcast_44k, 44100)
    assert quality._sample(audio) is not audio  # long enough to be heard in MAX_WINDOWS windows
    assert len(quality._sample(audio).samples) == 4 * round(quality.WINDOW / quality.RATE * 44100)
    assert quality.score(audio) == _serially(quality.score, audio)


def test_the_true_peak_near_loud_samples_is_the_same_looked_at_in_blocks(podcast_44k, monkeypatch):
    from audio import loudness

    idx = np.flatnonzero(np.abs(podcast_44k) > 0.5 * np.abs(podcast_44k).max())
    whole = loudness._true_peak_near(podcast_44k, idx)
    monkeypatch.setattr(loudness, "_SCAN", 1 << 16)  # ~70 blocks
    assert loudness._true_peak_near(podcast_44k, idx) == whole
    assert _serially(loudness._true_peak_near, podcast_44k, idx) == whole
    assert whole == loudness.true_peak(podcast_44k)  # the loudest sample is among them
