"""Work inside one long recording on every core: the same numbers as one core, on real speech."""

from __future__ import annotations

import threading

import conversations as cv
import numpy as np
import pytest

from audio import cores, turns, vad


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
