"""`voxclone lineage` as a person reads it: each step in one line, no wall of numbers."""

from __future__ import annotations

from audio import turns
from flows.cli.lineage import _step


def test_the_speakers_step_names_each_speaker_and_its_speech_not_its_embedding() -> None:
    found = turns.Turns(
        (turns.Turn(0.0, 3.0, "A"), turns.Turn(3.5, 5.0, "B"), turns.Turn(5.2, 9.0, "A")),
        (turns.Speaker("A", 6.8, (0.123456,) * 192), turns.Speaker("B", 1.5, (-0.5,) * 192)),
        windows=5,
    )
    step = turns.step(found)
    line = _step({"name": step.name, "params": step.params, "before": step.before,
                  "after": step.after})  # fmt: skip
    assert line.startswith(
        "speakers: count 2, speakers A 6.8 s, B 1.5 s (method=pyannote segmentation"
    )
    assert "0.123456" not in line and len(line) < 400


def test_lineage_reads_as_sentences_in_the_sources_seconds() -> None:
    from flows.cli.lineage import _spans, _speaker_lines, _when

    trim = {"name": "trim", "params": {"pause_to_s": 0.5},
            "before": {"duration_s": 106.26}, "after": {"duration_s": 92.4, "kept": [[8.52, 100.92]]}}  # fmt: skip
    line = _step(trim, [trim], [])
    assert line.startswith("trim: kept 92.40 s of 106.26 s: cut 8.5 s before the first speech")
    assert "[[" not in line and "False" not in line
    check = {"turns": [{"start": 0.15, "end": 2.0, "speaker": "A", "kept": True, "reason": None}]}
    assert (
        _speaker_lines(check, [trim])[1].strip().startswith("8.67–10.52 s  (0.15–2.00 s)  A  kept")
    )
    assert _spans([[24.89, 24.89], [1.0, 2.5]]) == "1.00–2.50 s", "no zero-length ranges"
    assert _when("2026-12-07 20:41:07.123456") == "2026-12-07 20:41:07 UTC"
    denoise = {"name": "denoise", "params": {"mode": "auto"}, "before": {"snr_db": 42.0},
               "after": {"applied": False, "reason": "SNR 42.0 dB >= 20 dB"}}  # fmt: skip
    assert "applied no" in _step(denoise) and "False" not in _step(denoise)
