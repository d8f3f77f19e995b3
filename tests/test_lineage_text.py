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
    assert line.startswith("speakers(method=CAM++ windows")
    assert "speakers=A 6.8 s, B 1.5 s" in line
    assert "0.123456" not in line and len(line) < 400
