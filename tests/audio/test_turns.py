"""Who speaks when inside one recording, on conversations built from real speech with a known truth
(tests/conversations.py) as people record them: no pauses between turns, overlap, "mm-hm"s under
the voice, a telephone line; scored with pyannote.metrics' diarization error rate."""

from __future__ import annotations

import conversations as cv
import numpy as np
import pytest

from audio import music, takes, turns, vad
from audio.chain import Settings, prepare
from audio.profiles import PROFILES
from audio.speaker import choose_speaker
from audio.steps import source_spans
from audio.takes import Clip, assemble, without_removed
from audio.types import Audio


def _prepared(rec: cv.Recording):
    x = rec.samples if rec.samples.ndim == 1 else rec.samples.mean(axis=1)
    return prepare(Audio(x, cv.RATE, "rec"), Settings())


def _kept(prepared) -> list[list[float]]:
    return next(s for s in prepared.steps if s.name == "trim").after["kept"]


def _share(spans: list[tuple[float, float]], truth, who: str) -> float:
    return sum(max(0.0, min(b, e) - max(a, s)) for a, b in spans for s, e, w in truth if w == who)


def _voice_spans(prepared, check) -> list[tuple[float, float]]:
    return [x for t in check.turns if t.kept for x in source_spans(t.start, t.end, _kept(prepared))]


def _removed(check) -> dict[str, float]:
    """Seconds kept out of a clip: "other speakers" (their turns), or a turn's own reason."""
    out: dict[str, float] = {}
    for t in check.turns:
        if not t.kept:
            other = t.speaker is not None and t.reason.startswith("another speaker")
            key = "other speakers" if other else t.reason
            out[key] = out.get(key, 0.0) + t.end - t.start
    return out


def _der(rec: cv.Recording, prepared) -> float:
    found = [(t.start, t.end, t.speaker, t.reason) for t in prepared.turns.turns]
    return cv.der(rec.truth, cv.hypothesis(found, _kept(prepared)))


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
    spans = _voice_spans(prepared, check)
    host, guest = _share(spans, rec.truth, "host"), _share(spans, rec.truth, "guest")
    assert guest / (host + guest) < 0.02
    assert host / rec.seconds("host") > 0.7
    assert check.others == 1 and _removed(check)["other speakers"] > 5
    removed = [t for t in check.turns if not t.kept]
    assert removed and all(t.reason for t in removed)
    assert {t.speaker for t in check.turns if t.kept} == {"A"}
    assert _der(rec, prepared) < 0.10


@pytest.fixture(
    scope="module",
    params=["clean", pytest.param("telephone", marks=pytest.mark.integration)],
)
def exchange(request):
    rec = cv.CHANNELS[request.param](cv.exchange())
    return rec, _prepared(rec)


def test_turns_that_follow_without_a_pause_are_cut_where_they_change(exchange):
    rec, prepared = exchange
    assert len(prepared.turns.speakers) == 2
    check = choose_speaker([prepared.turns]).clips[0]
    spans = _voice_spans(prepared, check)
    host, guest = _share(spans, rec.truth, "host"), _share(spans, rec.truth, "guest")
    assert guest / (host + guest) < 0.03
    assert host / rec.alone("host") > 0.6
    # a change inside a speech stretch is cut there, with a margin, not the stretch thrown away
    inside = [t for t in check.turns if t.reason == turns.MARGIN]
    assert inside and all(t.end - t.start <= 2 * turns.MARGIN_S + 1e-6 for t in inside)
    assert _der(rec, prepared) < 0.20


def test_overlap_is_kept_out_and_named():
    rec = cv.overlapping()
    prepared = _prepared(rec)
    check = choose_speaker([prepared.turns]).clips[0]
    over = [x for t in check.turns if t.reason == turns.OVERLAP
            for x in source_spans(t.start, t.end, _kept(prepared))]  # fmt: skip
    both = [(max(s, s2), min(e, e2)) for s, e, w in rec.truth if w == "guest"
            for s2, e2, w2 in rec.truth if w2 == "host" and min(e, e2) > max(s, s2)]  # fmt: skip
    truth_overlap = sum(b - a for a, b in both)
    assert both and _share(over, [(a, b, "x") for a, b in both], "x") > 0.4 * truth_overlap
    assert _removed(check)[turns.OVERLAP] > 1.0
    # where the model hears the guest come in before it hears the overlap, the host's embedding
    # still wins that stretch: kept out as a possible overlap, so the take stays the host's
    mine = _voice_spans(prepared, check)
    host, guest = _share(mine, rec.truth, "host"), _share(mine, rec.truth, "guest")
    assert guest / (host + guest) <= 0.02 and host / rec.alone("host") > 0.6
    doubted = [t for t in check.turns if t.reason == turns.DOUBT]
    assert doubted and all(t.speaker == "A" and not t.kept for t in doubted)


@pytest.mark.parametrize(
    "channel",
    ["clean", *(pytest.param(c, marks=pytest.mark.integration) for c in ("telephone", "mobile"))],
)
def test_backchannels_under_the_voice_never_reach_it(channel):
    rec = cv.CHANNELS[channel](cv.backchannels())
    prepared = _prepared(rec)
    check = choose_speaker([prepared.turns]).clips[0]
    spans = _voice_spans(prepared, check)
    host, guest = _share(spans, rec.truth, "host"), _share(spans, rec.truth, "guest")
    assert guest / (host + guest) <= 0.02
    assert host / rec.alone("host") > 0.8


@pytest.mark.parametrize(
    "channel",
    ["clean", *(pytest.param(c, marks=pytest.mark.integration) for c in ("telephone", "mp3-32k"))],
)
def test_a_single_speaker_loses_nothing_to_speaker_turns(channel):
    prepared = _prepared(cv.CHANNELS[channel](cv.monologue(6)))
    check = choose_speaker([prepared.turns]).clips[0]
    assert len(prepared.turns.speakers) == 1 and check.others == 0
    assert "other speakers" not in _removed(check)
    assert check.removed_s <= (0 if channel == "clean" else 1.5)


def test_a_50_50_talk_without_pauses_has_no_clear_majority():
    prepared = _prepared(cv.conversation(pauses=False))
    assert len(prepared.turns.speakers) == 2
    verdict = choose_speaker([prepared.turns])
    assert verdict.failure is not None and verdict.failure.startswith("no clear majority speaker")


@pytest.mark.integration
def test_one_speaker_per_channel_is_two_speakers_in_the_mix():
    rec = cv.stereo_interview()
    assert rec.samples.ndim == 2
    prepared = _prepared(rec)
    assert len(prepared.turns.speakers) == 2
    assert _der(rec, prepared) < 0.10


def test_takes_leave_out_removed_turns_and_cut_only_at_pauses_or_their_edges(exchange):
    _, prepared = exchange
    check = choose_speaker([prepared.turns]).clips[0]
    removed = tuple((t.start, t.end) for t in check.turns if not t.kept)
    clip = Clip("ep", prepared.audio, list(prepared.speech), None, removed)  # type: ignore[arg-type]
    edges = {round(x, 3) for a, b in removed for x in (a, b)}
    for take in assemble([_with_metrics(clip)], PROFILES["elevenlabs"]):
        for part in take.parts:
            assert not any(min(part.end_s, b) - max(part.start_s, a) > 1e-3 for a, b in removed)
            for s, e in prepared.speech:  # inside speech only at a removed stretch's edge
                for cut in (part.start_s, part.end_s):
                    if s + 1e-3 < cut < e - 1e-3:
                        assert min(abs(cut - x) for x in edges) < 2e-3, cut
    only, prob = without_removed(clip, prepared.prob)
    samples = prepared.audio.samples.copy()
    moved, moved_prob = without_removed(
        Clip("ep", Audio(samples, only.rate), clip.speech, None, removed), prepared.prob, True
    )  # type: ignore[arg-type]
    assert np.shares_memory(moved.samples, samples)  # cut inside the buffer, not beside it
    np.testing.assert_array_equal(moved.samples, only.samples)
    np.testing.assert_array_equal(moved_prob, prob)
    parts = takes._spans(takes._units(0, clip))  # each kept stretch, one pause between them
    joined = sum(b - a for _, a, b in parts) + takes.JOIN_GAP_S * (len(parts) - 1)
    assert only.duration == pytest.approx(joined, abs=0.01)
    assert (
        sum(b - a for _, a, b in parts)
        <= prepared.audio.duration - sum(b - a for a, b in removed) + 1e-3
    )
    # Silero's output carried onto the cut is what hearing the cut again gives
    heard = vad.hysteresis(vad.speech_probabilities(only.samples, only.rate))
    carried = vad.hysteresis(vad.fit_frames(prob, len(heard)))
    assert abs(len(prob) - len(heard)) <= 1
    assert np.mean(carried == heard) > 0.95


def _with_metrics(clip: Clip) -> Clip:
    from audio.metrics import measure

    return Clip(clip.id, clip.audio, clip.speech, measure(clip.audio), clip.removed)


def test_speech_over_music_is_kept_out_with_its_reason():
    rec = cv.music_bed(host_clips=3, bed_s=8.0)
    prepared = _prepared(rec)
    bed = [t for t in prepared.turns.turns if t.reason == turns.MUSIC]
    assert bed, "the bed under the first 8 s was found"
    over = [x for t in bed for x in source_spans(t.start, t.end, _kept(prepared))]
    assert all(a < 8.5 for a, _ in over)  # nothing after the bed is called music
    assert music.music_spans(np.zeros(cv.RATE * 2, dtype=np.float32)) == []


def test_music_under_part_of_a_long_stretch_keeps_out_that_part_only():
    """In café babble one speech stretch can last the whole recording: a few seconds the music
    detector hears in it are kept out, not the stretch."""
    rec = cv.monologue(3)
    x = rec.samples
    found = turns.find_turns(Audio(x, cv.RATE), [(0.0, len(x) / cv.RATE)], music=[(6.0, 9.0)])
    over = [(t.start, t.end) for t in found.turns if t.reason == turns.MUSIC]
    assert over == [(6.0, 9.0)]
    mine = sum(t.end - t.start for t in found.turns if t.speaker == "A")
    assert mine > 0.8 * (len(x) / cv.RATE - 3.0)


@pytest.mark.integration  # through DFN3: 15 s each on 2 cores
@pytest.mark.parametrize("snr", [10.0, 5.0])
def test_speech_in_babble_is_speech_not_music(snr):
    rec = cv.noisy(cv.monologue(6), snr, "babble")
    prepared = _prepared(rec)
    assert not [t for t in prepared.turns.turns if t.reason == turns.MUSIC]
    check = choose_speaker([prepared.turns]).clips[0]
    host = _share(_voice_spans(prepared, check), rec.truth, "host")
    assert host / rec.seconds("host") >= 0.9


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


def test_the_models_disagreeing_on_who_speaks_is_kept_out_in_doubt():
    piece = turns._Piece  # (start, end, (chunk, local speaker))
    # chunk 0: local 1 is A, local 2 (0.5 s, an "mm-hm") is heard as A too; chunk 1: local 1 is
    # B but one piece of it is given to A
    pieces = [piece(0, 4, (0, 1)), piece(4, 4.5, (0, 2)), piece(4.5, 8, (0, 1)),
              piece(10, 14, (1, 1)), piece(14, 15, (1, 1)), piece(15, 19, (1, 1))]  # fmt: skip
    who = [0, 0, 0, 1, 0, 1]
    doubted = [p.doubt for p in turns._doubted(pieces, who)]
    assert doubted == [True, True, True, False, True, False]  # two locals of A in chunk 0
    # with no one else heard, only the brief local speaker is in doubt, not the long one
    alone = [p.doubt for p in turns._doubted(pieces[:3], who[:3], turns.BRIEF_LOCAL_S)]
    assert alone == [False, True, False]
    assert turns._turns(pieces[:3], who[:3]) == [turns.Turn(0, 8, "A")]  # unmarked: one turn
    marked = turns._turns(turns._doubted(pieces[:3], who[:3], turns.BRIEF_LOCAL_S), who[:3])
    assert [(t.speaker, t.reason) for t in marked] == [("A", None), ("A", turns.DOUBT), ("A", None)]


def test_tiles_cover_a_stretch_without_overlap():
    assert turns.tiles(0.0, 0.5) == []
    assert turns.tiles(0.0, 1.0) == [(0.0, 1.0)]
    t = turns.tiles(2.0, 6.5)
    assert len(t) == 3 and t[0][0] == 2.0 and abs(t[-1][1] - 6.5) < 1e-9
    assert all(abs((b - a) - 1.5) < 1e-9 for a, b in t)


@pytest.mark.integration  # six runs of the turns
def test_a_long_recording_hears_half_of_one_persons_windows_and_all_of_a_conversations(
    monkeypatch,
):
    """Beyond SAMPLE_AFTER_S of speech, one person alone through a chunk is told by half their
    windows; where people take turns every window is heard. (Monkeypatched to apply here.)"""
    rec = cv.monologue(6)
    speech = vad.speech_intervals(rec.samples, cv.RATE, None)
    audio = Audio(rec.samples, cv.RATE)
    full = turns.find_turns(audio, speech)
    monkeypatch.setattr(turns, "SAMPLE_AFTER_S", 0.0)
    sampled = turns.find_turns(audio, speech)
    assert sampled.windows < full.windows
    assert [(t.speaker, t.reason) for t in sampled.turns] == [
        (t.speaker, t.reason) for t in full.turns
    ]
    talk = cv.exchange()
    speech = vad.speech_intervals(talk.samples, cv.RATE, None)
    heard = turns.find_turns(Audio(talk.samples, cv.RATE), speech)
    monkeypatch.setattr(turns, "SAMPLE_AFTER_S", 1e9)
    assert heard.windows == turns.find_turns(Audio(talk.samples, cv.RATE), speech).windows
