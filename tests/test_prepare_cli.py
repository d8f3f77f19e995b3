"""`voxclone prepare`: through flows.cli.main, and once through the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import json_shapes
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "data" / "samples" / "clips"
MALE = CLIPS / "librispeech_train-clean-100_1081-125237-0000_male.flac"
NOISY = CLIPS / "noisy_librispeech_1088-129236-0000_female_plus_dishes_5dB.flac"


def run_cli(argv: list[str]) -> int:
    from flows.cli import main

    return main(argv)


@pytest.fixture()
def bad_files(tmp_path: Path) -> list[Path]:
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 20)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    return [text, empty]


def test_json_report_names_every_input_and_goes_on_past_bad_ones(tmp_path, bad_files, capsys):
    out = tmp_path / "out"
    code = run_cli(["prepare", str(MALE), *map(str, bad_files), str(NOISY), "--out", str(out),
                    "--json", "--provider", "cartesia"])  # fmt: skip
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 1
    assert [Path(r["input"]).name for r in report["inputs"]] == [
        MALE.name, "notes.wav", "empty.flac", NOISY.name
    ]  # fmt: skip
    ok = {Path(r["input"]).name: r for r in report["inputs"] if r["status"] == "ok"}
    assert set(ok) == {MALE.name, NOISY.name}
    assert report["ok"] == 2 and report["failed"] == 2
    errors = {Path(r["input"]).name: r["error"] for r in report["inputs"] if r["status"] == "error"}
    assert "empty" in errors["empty.flac"] and "audio" in errors["notes.wav"]
    assert "Traceback" not in captured.out + captured.err
    male = ok[MALE.name]
    assert Path(male["output"]).name == MALE.stem + ".wav" and Path(male["output"]).is_file()
    assert sf.info(male["output"]).samplerate == 44100
    assert abs(male["metrics"]["loudness_lufs"] + 20) <= 0.5
    assert [s["name"] for s in male["steps"]][-2:] == ["loudness", "speakers"]
    assert male["speakers"]["count"] == 1 and male["speakers"]["removed_s"] == 0
    assert male["verdicts"]["cartesia"]["level"] == "pass"
    assert ok[NOISY.name]["steps"][2]["after"]["applied"] is True
    assert "ffmpeg" in report["versions"]


def _watched(monkeypatch) -> list[tuple[str, str]]:
    """What a terminal's progress bar is told, (file name, stage), whether stderr is one or not."""
    from flows.cli import prepare

    seen: list[tuple[str, str]] = []

    class Terminal(prepare._Bar):
        def __init__(self, total: int, enabled: bool) -> None:
            super().__init__(total, True)

        def within(self, path: Path, fraction: float, stage: str) -> None:
            seen.append((path.name, stage))

    monkeypatch.setattr(prepare, "_Bar", Terminal)
    return seen


def test_json_output_keeps_its_shape_and_a_pools_progress_reaches_the_terminal(
    tmp_path, capsys, monkeypatch
):
    """Every key, in its order, with its JSON type, as `prepare --json` printed them before the
    clip record was typed (tests/json_shapes.py), and the values a shape cannot see. Prepared by
    a pool of two, whose workers write the progress files the parent reads for the bar (they
    never reached it before): one run of the podcast for both, it is the slow part."""
    seen = _watched(monkeypatch)
    inputs = json_shapes.prepare_inputs(tmp_path)
    argv = ["prepare", *inputs, "--out", str(tmp_path / "out"), "--json", "--workers", "2"]
    code = run_cli(argv)
    printed = json.loads(capsys.readouterr().out)
    names = {Path(p).name for p in inputs}
    assert any(name in names and stage != "done" for name, stage in seen), seen
    assert code == 1
    assert json_shapes.shape(printed) == json_shapes.expected("prepare")
    male, podcast, notes = printed["inputs"]
    assert [male["status"], podcast["status"], notes["status"]] == ["ok", "ok", "error"]
    assert notes["error"] == "cannot read as audio (not an audio file)"
    assert male["speakers"]["summary"] == "1 speaker"
    assert podcast["speakers"]["count"] == 2 and podcast["speakers"]["removed_s"] > 5
    kept = sum(t["end"] - t["start"] for t in podcast["speakers"]["turns"] if t["kept"])
    assert abs(kept - podcast["speakers"]["kept_s"]) < 0.01
    # the take holds the host only: the guest's turns are cut out before it is measured
    assert podcast["metrics"]["duration_s"] < podcast["source"]["duration"] - 5


def test_quality_is_scored_on_the_source_as_in_the_flow(tmp_path, capsys):
    """--quality: the source's DNSMOS is in `source_metrics`, as the chain scored it (it was
    left out, where `voxclone run` had it)."""
    out = tmp_path / "out"
    run_cli(["prepare", str(MALE), "--out", str(out), "--json", "--quality", "--speaker", "all"])
    (entry,) = json.loads(capsys.readouterr().out)["inputs"]
    quality = next(s for s in entry["steps"] if s["name"] == "quality")
    scored = {k: entry["source_metrics"][f"dnsmos_{k}"] for k in ("sig", "bak", "ovrl")}
    assert scored == quality["before"]
    assert entry["metrics"]["dnsmos_ovrl"] == quality["after"]["ovrl"]


def test_table_output_and_options(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe's width, whatever the shell exports
    out = tmp_path / "out"
    code = run_cli(["prepare", str(MALE), "--out", str(out), "--target-lufs", "-23",
                    "--rate", "24000", "--format", "flac", "--denoise", "never"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0
    assert MALE.name in text and "ElevenLabs" in text and "Cartesia" in text
    assert "needs at least 30 s" in text  # 9.5 s of speech is too little for ElevenLabs
    take = out / (MALE.stem + ".flac")
    info = sf.info(str(take))
    assert info.samplerate == 24000 and info.format == "FLAC"
    from audio.loudness import integrated_loudness

    x, rate = sf.read(str(take))
    assert abs(integrated_loudness(x, rate) + 23) <= 0.1


def test_entry_point_subprocess(tmp_path):
    exe = Path(sys.executable).parent / "voxclone"
    cmd = [str(exe), "prepare", str(MALE), "--out", str(tmp_path), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["inputs"][0]["status"] == "ok"
    assert (tmp_path / (MALE.stem + ".wav")).is_file()


def test_bad_only_input_exits_non_zero_without_traceback(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    cmd = [sys.executable, "-m", "flows.cli", "prepare", str(bad), "--out", str(tmp_path / "o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "broken.wav" in proc.stdout and "error" in proc.stdout


def test_prepare_command_imports_no_heavy_libraries():
    code = (
        "import sys, flows.cli.prepare as m;"
        "print(sorted({'numpy', 'scipy', 'prefect', 'noisereduce'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_terminal_sees_each_file_s_stage_while_it_prepares(tmp_path, monkeypatch):
    """One worker tells the bar itself (a pool's workers: the JSON shape test above)."""
    import conversations as cv

    seen = _watched(monkeypatch)
    podcast = cv.podcast(host_clips=3, guest_clips=2).write(tmp_path / "podcast.wav")
    argv = ["prepare", str(podcast), str(MALE), "--out", str(tmp_path / "o"), "--workers", "1"]
    assert run_cli(argv) == 0
    assert any(name == "podcast.wav" and stage != "done" for name, stage in seen), seen
