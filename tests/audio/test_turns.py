"""Who speaks when inside one recording, on recordings built from real speech with a known truth
(tests/conversations.py): turns, the voice's speaker, music, and takes that hold only that voice."""

from __future__ import annotations

import conversations as cv
import numpy as np
import pytest

from audio import turns, vad
from audio.chain import Settings, prepare
from audio.profiles import PROFILES
from audio.speaker import choose_speaker
from audio.steps import source_spans
from audio.takes import Clip, assemble, without_removed
from audio.types import Audio


def _prepared(rec: cv.Recording):
    return prepare(Audio(rec.samples, cv.RATE, "rec"), Settings())


def _share(spans: list[tuple[float, float]], truth, who: str) -> float:
    return sum(max(0.0, min(b, e) - max(a, s)) for a, b in spans for s, e, w in truth if w == who)


@pytest.fixture(scope="module")
def podcast():
    rec = cv.podcast(host_clips=5, guest_clips=3)
    return rec, _prepared(rec)


def test_a_podcast_has_two_speakers_and_the_host_is_the_voice(podcast):
    rec, prepared = podcast
    found = prepared.turns
    assert found is not None and [s.label for s in found.speakers] == ["A", "B"]
    assert found.speakers[0].speech_s > found.speakers[1].speech_s
    verdict = choose_speaker([found])
    assert verdict.failure is None
    check = verdict.clips[0]
    kept = next(s for s in prepared.steps if s.name == "trim").after["kept"]
    kept_spans = [x for t in check.turns if t.kept for x in source_spans(t.start, t.end, kept)]
    host, guest = _share(kept_spans, rec.truth, "host"), _share(kept_spans, rec.truth, "guest")
    assert guest / (host + guest) < 0.02
    assert host / rec.seconds("host") > 0.7
    removed = [t for t in check.turns if not t.kept]
    assert removed and all(t.reason for t in removed)
    assert {t.speaker for t in check.turns if t.kept} == {"A"}


def test_takes_leave_out_removed_turns_and_cut_at_pauses(podcast):
    _, prepared = podcast
    check = choose_speaker([prepared.turns]).clips[0]
    removed = tuple((t.start, t.end) for t in check.turns if not t.kept)
    clip = Clip("ep", prepared.audio, list(prepared.speech), None, removed)  # type: ignore[arg-type]
    for take in assemble([_with_metrics(clip)], PROFILES["elevenlabs"]):
        for part in take.parts:
            assert not any(min(part.end_s, b) - max(part.start_s, a) > 1e-3 for a, b in removed)
            # a cut is never inside a speech interval
            for s, e in prepared.speech:
                assert not (s < part.start_s < e) and not (s < part.end_s < e - 1e-3)
    only, prob = without_removed(clip, prepared.prob)
    samples = prepared.audio.samples.copy()
    moved, moved_prob = without_removed(
        Clip("ep", Audio(samples, only.rate), clip.speech, None, removed), prepared.prob, True
    )  # type: ignore[arg-type]
    assert np.shares_memory(moved.samples, samples)  # cut inside the buffer, not beside it
    np.testing.assert_array_equal(moved.samples, only.samples)
    np.testing.assert_array_equal(moved_prob, prob)
    assert 0 < only.duration < prepared.audio.duration - sum(b - a for a, b in removed) + 1.0
    # Silero's output carried onto the cut is what hearing the cut again gives
    heard = vad.hysteresis(vad.speech_probabilities(only.samples, only.rate))
    carried = vad.hysteresis(vad.fit_frames(prob, len(heard)))
    assert abs(len(prob) - len(heard)) <= 1
    assert np.mean(carried == heard) > 0.97


def _with_metrics(clip: Clip) -> Clip:
    from audio.metrics import measure

    return Clip(clip.id, clip.audio, clip.speech, measure(clip.audio), clip.removed)


def test_a_single_speaker_loses_nothing_to_speaker_turns():
    prepared = _prepared(cv.monologue(6))
    check = choose_speaker([prepared.turns]).clips[0]
    assert len(prepared.turns.speakers) == 1
    assert check.removed_s == 0 and all(t.kept for t in check.turns)


def test_short_replies_of_another_speaker_are_removed():
    rec = cv.short_replies(host_clips=4)
    prepared = _prepared(rec)
    check = choose_speaker([prepared.turns]).clips[0]
    kept = next(s for s in prepared.steps if s.name == "trim").after["kept"]
    spans = [x for t in check.turns if t.kept for x in source_spans(t.start, t.end, kept)]
    host, guest = _share(spans, rec.truth, "host"), _share(spans, rec.truth, "guest")
    assert guest / (host + guest) < 0.02 and host / rec.seconds("host") > 0.7


def test_speech_over_music_is_kept_out_with_its_reason():
    rec = cv.music_bed(host_clips=3, bed_s=8.0)
    prepared = _prepared(rec)
    bed = [t for t in prepared.turns.turns if t.reason == turns.MUSIC]
    assert bed, "the bed under the first 8 s was found"
    kept = next(s for s in prepared.steps if s.name == "trim").after["kept"]
    over = [x for t in bed for x in source_spans(t.start, t.end, kept)]
    assert all(a < 8.5 for a, _ in over)  # nothing after the bed is called music
    assert turns.music_spans(np.zeros(cv.RATE * 2, dtype=np.float32)) == []


def test_the_turns_round_trip_through_the_records_json(podcast):
    """As the ledger stores them (flows.records), and as the `speakers` step shows them."""
    import json

    from flows.records import from_json, to_json

    _, prepared = podcast
    stored = json.loads(json.dumps(to_json(prepared.turns)))
    assert from_json(turns.Turns, stored) == prepared.turns
    step = json.loads(json.dumps(next(s for s in prepared.steps if s.name == "speakers").after))
    shown = [[t["start"], t["end"], t["speaker"], t["reason"]] for t in stored["turns"]]
    assert step["turns"] == shown and step["speakers"] == stored["speakers"]


def test_tiles_cover_a_stretch_without_overlap():
    assert turns.tiles(0.0, 0.5) == []
    assert turns.tiles(0.0, 1.0) == [(0.0, 1.0)]
    t = turns.tiles(2.0, 6.5)
    assert len(t) == 3 and t[0][0] == 2.0 and abs(t[-1][1] - 6.5) < 1e-9
    assert all(abs((b - a) - 1.5) < 1e-9 for a, b in t)
