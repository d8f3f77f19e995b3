"""One speaker per voice, through `voxclone run --dry-run --json`: an intruder is left out of every
take, and a voice with no clear majority speaker fails for every provider."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from flow_cases import CLIPS, VOICES

from flows import ledger
from flows.cli import main
from flows.ledger.schema import speaker_checks, takes

pytestmark = pytest.mark.integration  # a real Prefect server

INTRUDER = "2414-128291-0002.flac"  # another LibriSpeech speaker


def _voice(root: Path, own: list[str], others: list[str]) -> Path:
    folder = root / "inbox" / "narrator"
    folder.mkdir(parents=True)
    for name in own:
        shutil.copy(VOICES / "libri-3080" / name, folder / name)
    for name in others:
        shutil.copy(VOICES / "libri-2414" / name, folder / name)
    return root / "inbox"


def _run(inbox: Path, capsys) -> tuple[int, dict]:
    code = main(["run", str(inbox), "--providers", "cartesia,elevenlabs", "--dry-run", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_clip_of_another_speaker_is_excluded_from_every_take(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    code, run = _run(_voice(tmp_path, CLIPS, [INTRUDER]), capsys)
    assert code == 0, run["results"]
    clips = {c["clip"]: c for c in run["clips"]}
    intruder = clips[INTRUDER]
    assert intruder["status"] == "excluded"
    assert intruder["error"].startswith("different speaker: similarity")
    assert intruder["metrics"]["speaker_similarity"] < 0.45
    for name in CLIPS:
        assert clips[name]["status"] == "ok"
        assert clips[name]["metrics"]["speaker_similarity"] >= 0.45
    assert {r["status"] for r in run["results"]} == {"would-send"}

    with ledger.engine().connect() as c:
        parts = [p for (ps,) in c.execute(sa.select(takes.c.parts)) for p in ps]
        checks = {r.prepared_sha256: r for r in c.execute(sa.select(speaker_checks))}
    assert parts, "the dry run assembled takes"
    used = {p["prepared_sha256"] for p in parts}
    assert intruder["prepared_sha256"] not in used
    assert {clips[n]["prepared_sha256"] for n in CLIPS} & used
    assert checks[intruder["prepared_sha256"]].excluded
    assert not checks[clips[CLIPS[0]]["prepared_sha256"]].excluded


def test_a_voice_without_a_clear_majority_speaker_fails_for_every_provider(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    inbox = _voice(tmp_path, CLIPS[:2], ["2414-128291-0002.flac", "2414-128291-0005.flac"])
    code = main(["run", str(inbox), "--providers", "cartesia,elevenlabs", "--dry-run", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    run = json.loads(captured.out)
    assert {r["provider"]: r["status"] for r in run["results"]} == {
        "cartesia": "failed",
        "elevenlabs": "failed",
    }
    assert all("no clear majority speaker" in r["error"] for r in run["results"])


def test_a_voice_whose_clips_hold_no_speaker_fails_saying_so() -> None:
    """Every turn over music: there is no speaker to choose. The voice fails with that reason
    (it failed as "cannot read its prepared clips: ValueError: zip() …")."""
    import numpy as np

    from audio.takes import Clip
    from audio.turns import MUSIC, Turn, Turns
    from audio.types import Audio, Metrics
    from flows.pipeline import takes
    from flows.records import PreparedClip

    measured = Metrics(2.0, 1.8, 0.9, 30.0, 0.0, -20.0, 3.0, -3.0, 8000.0, 16000, 1)
    clip = Clip("p1", Audio(np.zeros(32000, np.float32), 16000), [(0.2, 2.0)], measured)
    turns = Turns((Turn(0.2, 2.0, None, MUSIC),), (), 0)
    prepared = PreparedClip("v", "a.wav", "/a.wav", prepared_sha256="p1", turns=turns)
    loaded = takes.check_speakers([clip], [prepared])
    assert loaded.failure == "no speech to find a speaker in" and loaded.clips == []
