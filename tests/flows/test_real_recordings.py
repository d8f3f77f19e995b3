"""One voice out of real recordings, through `voxclone run --json` and `voxclone prepare --json`:
a podcast's guest, a music bed and a 50/50 conversation never reach a provider's take."""

from __future__ import annotations

import json
from pathlib import Path

import conversations as cv
import pytest
import sqlalchemy as sa

from audio.steps import source_spans
from flows import ledger
from flows.cli import main
from flows.ledger.schema import speaker_checks, takes

pytestmark = pytest.mark.integration  # a real Prefect server; podcast-length recordings (15 s each)

PROVIDERS = "anam,althea,elevenlabs,cartesia"


def _inbox(root: Path, files: dict[str, cv.Recording], toml: str = "") -> Path:
    folder = root / "inbox" / "podcast-host"
    for name, rec in files.items():
        rec.write(folder / name)
    (folder / "voice.toml").write_text('name = "Podcast Host"\n' + toml)
    return root / "inbox"


def _run(inbox: Path, capsys) -> tuple[int, dict]:
    code = main(["run", str(inbox), "--providers", PROVIDERS, "--dry-run", "--json"])
    return code, json.loads(capsys.readouterr().out)


def _overlap(spans, truth, who: str) -> float:
    return sum(max(0.0, min(b, e) - max(a, s)) for a, b in spans for s, e, w in truth if w == who)


def _trim_kept(clip: dict) -> list[list[float]]:
    return next(s["after"]["kept"] for s in clip["steps"] if s["name"] == "trim")


def test_a_podcast_guest_and_its_music_never_reach_a_take(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    rec = cv.podcast()
    code, run = _run(_inbox(tmp_path, {"episode.flac": rec}), capsys)
    assert code == 0, run["results"]
    (clip,) = run["clips"]
    assert clip["status"] == "ok"
    speakers = clip["speakers"]
    assert speakers["count"] == 2 and speakers["removed_s"] > 10
    assert speakers["summary"].startswith("2 speakers: kept")
    assert "of another speaker" in speakers["summary"]
    assert {r["status"] for r in run["results"]} == {"would-send"}

    with ledger.engine().connect() as c:
        rows = c.execute(sa.select(takes.c.provider, takes.c.parts)).all()
        (check,) = c.execute(sa.select(speaker_checks)).all()
    assert {p for p, _ in rows} == set(PROVIDERS.split(","))
    for provider, parts in rows:
        spans = [x for p in parts for x in source_spans(p["start_s"], p["end_s"], _trim_kept(clip))]
        host, guest = _overlap(spans, rec.truth, "host"), _overlap(spans, rec.truth, "guest")
        assert host > 5, provider
        assert guest / (host + guest) <= 0.02, (provider, guest, host)
        assert _overlap(spans, rec.truth, "music") < 0.5, provider
    assert any(not t["kept"] and t["reason"].startswith("another speaker") for t in check.turns)
    assert sum(t["end"] - t["start"] for t in check.turns if t["kept"]) == pytest.approx(
        speakers["kept_s"], abs=0.05
    )


def test_a_50_50_conversation_needs_a_reference_and_follows_it(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    talk = cv.conversation(turns=4)
    code, run = _run(_inbox(tmp_path / "a", {"talk.flac": talk}), capsys)
    assert code == 1
    assert {r["status"] for r in run["results"]} == {"failed"}
    for r in run["results"]:
        assert "no clear majority speaker" in r["error"]
        assert "name a reference clip in voice.toml" in r["error"]
        assert not r["takes"]

    intro = {"talk.flac": talk, "intro.flac": cv.monologue(2, cv.HOST[8:])}
    code, run = _run(_inbox(tmp_path / "b", intro, 'reference = ["intro.flac"]\n'), capsys)
    assert code == 0, run["results"]
    assert {r["status"] for r in run["results"]} == {"would-send"}
    clip = next(c for c in run["clips"] if c["clip"] == "talk.flac")
    kept = [x for t in clip["speakers"]["turns"] if t["kept"]
            for x in source_spans(t["start"], t["end"], _trim_kept(clip))]  # fmt: skip
    host, guest = _overlap(kept, talk.truth, "host"), _overlap(kept, talk.truth, "guest")
    assert host > 0.7 * talk.seconds("host") and guest < 0.02 * host


def test_a_reference_of_nobody_in_the_recordings_fails_the_voice(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    files = {"episode.flac": cv.monologue(3), "ref.flac": cv.monologue(2, cv.GUEST)}
    # the reference is not one of the clips: clips = the episode only
    toml = 'reference = ["ref.flac"]\nclips = ["episode.flac"]\n'
    code, run = _run(_inbox(tmp_path, files, toml), capsys)
    assert code == 1
    assert {r["status"] for r in run["results"]} == {"failed"}
    assert all("in none of the recordings" in r["error"] for r in run["results"])


def test_prepare_keeps_the_chosen_speaker(tmp_path: Path, capsys) -> None:
    rec = cv.podcast(host_clips=4, guest_clips=3)
    episode = rec.write(tmp_path / "episode.flac")
    guest_ref = cv.monologue(2, cv.GUEST[6:]).write(tmp_path / "guest.flac")
    out = {}
    for speaker in ("dominant", "all", str(guest_ref)):
        code = main(["prepare", str(episode), "--out", str(tmp_path / speaker[-8:]),
                     "--speaker", speaker, "--json"])  # fmt: skip
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report
        out[speaker] = report["inputs"][0]
    dominant, everyone, guest = out["dominant"], out["all"], out[str(guest_ref)]
    assert everyone["speakers"] is None and "speakers" not in [s["name"] for s in everyone["steps"]]
    assert dominant["speakers"]["count"] == 2
    assert dominant["metrics"]["duration_s"] < everyone["metrics"]["duration_s"] - 10
    kept_dominant = {t["speaker"] for t in dominant["speakers"]["turns"] if t["kept"]}
    kept_guest = {t["speaker"] for t in guest["speakers"]["turns"] if t["kept"]}
    assert kept_dominant == {"A"} and kept_guest == {"B"}
    assert guest["speakers"]["kept_s"] < dominant["speakers"]["kept_s"]
    with pytest.raises(SystemExit) as refused:
        main(["prepare", str(episode), "--out", str(tmp_path / "x"), "--speaker", "nope.wav"])
    assert refused.value.code == 2 and "nope.wav" in capsys.readouterr().err


def test_a_clipped_clip_never_enters_a_take(prefect_api, env, emulator, tmp_path: Path, capsys):
    """Its verdict is fail; a take judged as a whole would have hidden it (issue 18)."""
    import numpy as np
    import soundfile as sf

    folder = tmp_path / "inbox" / "podcast-host"
    folder.mkdir(parents=True)
    for path in cv.HOST[:4]:
        sf.write(folder / path.name, cv.read(path), cv.RATE)
    loud = np.clip(cv.read(cv.HOST[5]) * 8.0, -1.0, 1.0)  # hard-clipped, same speaker
    sf.write(folder / "clipped.flac", loud, cv.RATE)
    (folder / "voice.toml").write_text('name = "Podcast Host"\n')
    _, run = _run(tmp_path / "inbox", capsys)
    clipped = next(c for c in run["clips"] if c["clip"] == "clipped.flac")
    assert clipped["metrics"]["clipping_ratio"] > 1e-3
    assert all(v["level"] == "fail" for v in clipped["verdicts"].values())
    with ledger.engine().connect() as c:
        used = {
            p["prepared_sha256"] for (parts,) in c.execute(sa.select(takes.c.parts)) for p in parts
        }
    assert used and clipped["prepared_sha256"] not in used
    eleven = next(r for r in run["results"] if r["provider"] == "elevenlabs")
    assert any(
        r.startswith("clipped.flac left out of the take: clipped") for r in eleven["reasons"]
    )


def _call() -> tuple[cv.Recording, Path]:
    """pyannote.audio's own sample: a real two-person telephone call (two women, 30 s, turns
    that follow without a pause and overlap), with its reference RTTM."""
    from importlib import metadata

    wav = Path(str(metadata.distribution("pyannote.audio").locate_file(
        "pyannote/audio/sample/sample.wav")))  # fmt: skip
    names = {"speaker91": "host", "speaker90": "guest"}
    truth = []
    for line in wav.with_suffix(".rttm").read_text().splitlines():
        f = line.split()
        truth.append((float(f[3]), float(f[3]) + float(f[4]), names[f[7]]))
    return cv.Recording(cv.read(wav), sorted(truth)), wav


def test_a_real_phone_call_needs_a_reference_and_keeps_only_her(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    call, _ = _call()
    code, run = _run(_inbox(tmp_path / "a", {"call.wav": call}), capsys)
    assert code == 1
    (clip,) = run["clips"]
    assert clip["speakers"]["count"] == 2
    assert all("no clear majority speaker" in r["error"] for r in run["results"])

    her = cv.Recording(call.samples[int(22.0 * cv.RATE) : int(27.7 * cv.RATE)])  # cut from the call
    files = {"call.wav": call, "her.wav": her}
    toml = 'clips = ["call.wav"]\nreference = ["her.wav"]\n'
    code, run = _run(_inbox(tmp_path / "b", files, toml), capsys)
    assert code == 0, run["results"]
    (clip,) = run["clips"]
    kept = [x for t in clip["speakers"]["turns"] if t["kept"]
            for x in source_spans(t["start"], t["end"], _trim_kept(clip))]  # fmt: skip
    host, guest = _overlap(kept, call.truth, "host"), _overlap(kept, call.truth, "guest")
    assert host > 0.5 * call.alone("host") and guest <= 0.05 * host, (host, guest)
