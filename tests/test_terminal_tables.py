"""The terminal's tables at 80 and at 120 columns: every id, URL and number whole on one line,
what was cut said in a sentence, nothing wider than the terminal but a value that cannot be."""

from __future__ import annotations

import io
import uuid

import pytest

from flows.records import RunSummary

PROVIDERS = ["anam", "althea", "faseeh", "callers", "elevenlabs", "cartesia"]
# a podcast: an 8.5 s lead-in the trim cut, two other speakers, music under the outro
TRIM = {
    "name": "trim",
    "params": {"pad_s": 0.15, "max_pause_s": 1.0, "pause_to_s": 0.5},
    "before": {"duration_s": 106.262, "speech_s": 80.9},
    "after": {"duration_s": 90.896, "kept": [[8.522, 50.0], [51.5, 100.918]]},
}
TURNS = [
    {"start": 0.15, "end": 11.5, "speaker": "A", "similarity": 1.0, "kept": True, "reason": None},
    {"start": 11.99, "end": 16.85, "speaker": "C", "similarity": 0.15, "kept": False,
     "reason": "another speaker (C, similarity 0.15)"},
    {"start": 17.2, "end": 27.0, "speaker": "A", "similarity": 1.0, "kept": True, "reason": None},
    {"start": 27.29, "end": 31.89, "speaker": "B", "similarity": -0.12, "kept": False,
     "reason": "another speaker (B, similarity -0.12)"},
    {"start": 32.3, "end": 90.0, "speaker": "A", "similarity": 1.0, "kept": True, "reason": None},
    {"start": 90.17, "end": 90.75, "speaker": None, "similarity": None, "kept": False,
     "reason": "speech over music"},
]  # fmt: skip


def _clip(voice: str, name: str, **extra: object) -> dict:
    return {
        "voice": voice,
        "clip": name,
        "path": f"inbox/{voice}/{name}",
        "status": "ok",
        "source_metrics": {"duration_s": 106.3, "snr_db": 15.8, "loudness_lufs": -22.0,
                           "bandwidth_hz": 8000.0, "dnsmos_ovrl": 3.14},
        "metrics": {"duration_s": 92.4, "speech_s": 80.5, "loudness_lufs": -24.6,
                    "true_peak_dbtp": -3.1, "dnsmos_ovrl": 3.26, "speaker_similarity": 1.0},
        "verdicts": {p: {"level": "warn" if p in ("callers", "elevenlabs") else "pass",
                         "reasons": ["loudness -24.6 LUFS is outside -24..-16 LUFS"]
                         if p in ("callers", "elevenlabs") else []} for p in PROVIDERS},
        **extra,
    }  # fmt: skip


def _run() -> tuple[RunSummary, list[str]]:
    from flows.report import cuts

    clips = [
        _clip("mara-host", "episode-12-the-long-interview.wav",
              steps=[TRIM], speakers={"count": 3, "kept_s": 62.9, "removed_s": 10.0,
                                      "summary": cuts.sentence(3, 62.9, TURNS, [TRIM]),
                                      "turns": TURNS}),
        _clip("libri-2414", "2414-128291-0000.flac"),
    ]  # fmt: skip
    results, ids = [], []
    for voice in ("mara-host", "libri-2414"):
        for p in PROVIDERS:
            voice_id = str(uuid.uuid4()) if p != "elevenlabs" else "nIWBwCAZbQNxXgNqhriz"
            ids.append(voice_id)
            preview = f"http://127.0.0.1:45047/_emulator/samples/{p}/{voice_id}.mp3"
            results.append({
                "voice": voice, "provider": p, "status": "created", "voice_id": voice_id,
                "preview_url": preview if p not in ("callers", "cartesia") else None,
                "verdict": "warn", "reasons": [f"54.9 s of speech; {p} works best with 60–120 s"],
                "takes": [{"sha256": "ab" * 32, "duration_s": 10.0, "bytes": 1000}] * 10,
                "clone_check": {"verdict": "pass", "reason": "sounds like the speaker",
                                "similarity": 0.89, "ovrl": 3.06},
            })  # fmt: skip
            ids.append(preview) if p not in ("callers", "cartesia") else None
    info = {"title": "t", "flow_run_id": "r", "started_at": "", "finished_at": "", "inbox": "v"}
    run = RunSummary.from_dict(
        {**info, "providers": PROVIDERS, "dry_run": False, "clips": clips, "results": results,
         "report": "/home/mara/voxclone/data/reports/0f4b8a3e-9d7c-4e0b-a1a4-2a4c5d6e7f80.html"}
    )  # fmt: skip
    return run, [*ids, str(run.report)]


def _printed(width: int, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """What `voxclone run` prints for the run in a terminal `width` columns wide, and the ids,
    URLs and paths in it."""
    from flows.cli.run import print_run

    monkeypatch.setenv("COLUMNS", str(width))
    run, whole = _run()
    out = io.StringIO()
    print_run(run, out)
    return out.getvalue(), whole


@pytest.mark.parametrize("width", [80, 120])
def test_every_id_url_and_path_is_whole_on_one_line(width, monkeypatch):
    text, whole = _printed(width, monkeypatch)
    lines = text.splitlines()
    for value in whole:
        assert any(value in line for line in lines), f"{value} is broken over lines at {width}"
    for line in lines:  # nothing wider than the terminal but a line that is one long value
        assert len(line) <= width or " " not in line.strip(), line
    assert "…" not in text
    # numbers and names are never folded inside a cell: whole, or their column is named as left out
    left_out = " ".join(
        " ".join(line.split()) for line in lines if "not shown" in line or "    " in line[:4]
    )
    for column, cell in (
        ("s in→out", "106.3→92.4"),
        ("LUFS in→out", "-22.0→-24.6"),
        ("clip", "episode-12-the-long-interview.wav"),
        ("voice", "mara-host"),
    ):
        assert any(cell in line for line in lines) or column in left_out, cell
    if width == 120:  # the numbers a podcaster reads first fit beside a long clip name
        assert "LUFS in→out" in text.split("not shown")[0]


@pytest.mark.parametrize("width", [80, 120])
def test_what_was_cut_is_a_sentence_under_the_table(width, monkeypatch):
    flat = " ".join(_printed(width, monkeypatch)[0].split())  # a sentence may wrap at spaces
    assert "mara-host · episode-12-the-long-interview.wav: 3 speakers: kept 62.9 s" in flat
    assert "removed 9.5 s of 2 other speakers" in flat, "two other people, not 'another speaker'"
    assert "a 6.1 s music outro" in flat, "the music under the outro and the silence after it"
    # a warning says why, once, with the providers it concerns
    assert "warn for Callers.ai, ElevenLabs: loudness -24.6 LUFS is outside -24..-16 LUFS" in flat


def test_at_80_columns_the_last_columns_are_left_out_and_named():
    from flows.report import tables

    rows = [{"voice": "a" * 30, "id": "b" * 36, "extra": "c" * 30}]
    text = tables.table_text(rows, width=80)
    assert "b" * 36 in text and "c" * 30 not in text
    assert "(not shown at 80 columns: extra; widen the terminal, or --json)" in text


def test_ties_read_as_ties():
    from flows.records import CloneResult
    from flows.report import summary

    run, _ = _run()
    ranking = summary.rankings(run.results)
    assert ranking["mara-host"].startswith("no provider sounds more like the speaker than another")
    assert (
        "Althea Studio, Anam, Callers.ai, Cartesia, ElevenLabs and Faseeh tie at 0.89"
        in ranking["mara-host"]
    )
    one = CloneResult.from_dict({**run.results[0].to_dict(), "voice": "x", "provider": "anam"})
    two = CloneResult.from_dict(
        {**run.results[1].to_dict(), "voice": "x", "provider": "althea",
         "clone_check": {"verdict": "pass", "reason": "", "similarity": 0.5}}
    )  # fmt: skip
    assert summary.rankings([one, two])["x"] == (
        "sounds most like the speaker: Anam 0.89, Althea Studio 0.50"
    )


def test_check_takes_the_display_name_and_suggests_a_near_miss():
    from flows.cli.check import _names, _not_found

    row = {"voice": "mara-host", "voice_id": "v1", "name": "Mara Host", "provider": "anam"}
    assert _names(row, "Mara Host") and _names(row, "mara host") and _names(row, "v1")
    assert not _names(row, "host")
    said = _not_found("host", [row], "data/lineage.db")
    assert said.endswith("did you mean 'mara-host' (“Mara Host”)?"), said
    said = _not_found("zzz", [row], "data/lineage.db")
    assert "the ledger has mara-host" in said


def test_help_reads_as_a_sentence():
    import argparse

    from flows.cli.run import add_run_options

    parser = argparse.ArgumentParser()
    add_run_options(parser)
    help_text = " ".join(parser.format_help().split())
    assert "in LUFS (-40 to -10; default -20)." in help_text
    assert ".;" not in help_text and "…" not in help_text


def test_one_other_speaker_is_another_speaker():
    from flows.report import cuts

    turns = [
        {"start": 0.0, "end": 5.0, "speaker": "A", "kept": True, "reason": None},
        {"start": 5.0, "end": 7.5, "speaker": "B", "kept": False, "reason": "another speaker (B, similarity 0.10)"},
        {"start": 8.0, "end": 9.0, "speaker": "B", "kept": False, "reason": "another speaker (B, similarity 0.10)"},
    ]  # fmt: skip
    assert cuts.removed_words(turns) == ["3.5 s of another speaker"]
