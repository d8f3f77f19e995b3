"""A careless user's inbox and manifest, through `voxclone run --json` against the emulator: every
refusal is a problem line with the path and the reason, every other voice is cloned, and the run
exits 1 because something asked for was not done."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from flow_cases import CLIPS, VOICES, emulator_voices

from flows.cli import main


def _voice(inbox: Path, name: str, toml: str | None = None, clips: int = 1) -> Path:
    folder = inbox / name
    folder.mkdir(parents=True)
    for clip in CLIPS[:clips]:
        shutil.copy(VOICES / "libri-3080" / clip, folder / clip)
    if toml is not None:
        (folder / "voice.toml").write_text(toml)
    return folder


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["run", *argv, "--providers", "cartesia", "--workers", "1", "--json"])
    return code, json.loads(capsys.readouterr().out)


def _problems(run: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in run["problems"]:
        out.setdefault(Path(p["path"]).name, []).append(p["reason"])
    return out


@pytest.mark.integration  # a real Prefect server
def test_loops_fifos_and_voice_toml_mistakes_skip_only_what_they_touch(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    inbox = tmp_path / "inbox"
    _voice(inbox, "good")
    os.symlink(inbox / "loop-b", inbox / "loop-a")
    os.symlink(inbox / "loop-a", inbox / "loop-b")
    looped = _voice(inbox, "looped")
    os.symlink(looped / "b.wav", looped / "a.wav")
    os.symlink(looped / "a.wav", looped / "b.wav")
    os.mkfifo(looped / "pipe.wav")
    _voice(inbox, "typo", 'providers = ["elevenlab"]\n')
    _voice(inbox, "number", "name = 123\n")
    _voice(inbox, "wordy", f'description = "{"x" * 1_048_576}"\n')

    code, run = _run([str(inbox)], capsys)

    assert code == 1  # the user asked for three voices that were not cloned
    assert [(r["voice"], r["status"]) for r in run["results"]] == [
        ("good", "created"),
        ("looped", "created"),
    ]
    assert len(emulator_voices(emulator.url)["cartesia"]) == 2
    assert [(c["voice"], c["status"]) for c in run["clips"]] == [("good", "ok"), ("looped", "ok")]
    problems = _problems(run)
    for name in ("loop-a", "loop-b", "a.wav", "b.wav"):
        assert problems.pop(name) == ["symlink loop; refused"]
    assert problems.pop("pipe.wav") == ["a FIFO (named pipe), not a regular file; refused"]
    skipped = {Path(p["path"]).parent.name: p["reason"] for p in run["problems"]}
    assert "'elevenlab' is not a provider, did you mean 'elevenlabs'?" in skipped["typo"]
    assert skipped["number"] == "name = 123: must be a string, in quotes (voice skipped)"
    assert "is 1,048,576 characters; at most 1,000 are accepted" in skipped["wordy"]
    assert len(json.dumps(run["problems"])) < 2000  # the description is quoted, not printed
    # one line each: Althea's 240-character limit is not checked on a run that is not sent there
    assert sorted(problems) == ["voice.toml"] and len(problems["voice.toml"]) == 3


@pytest.mark.integration  # a real Prefect server
def test_a_folder_named_twice_in_a_manifest_prepares_each_clip_once(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    folder = _voice(tmp_path, "clips", clips=3)
    os.symlink(folder / "d.wav", folder / "c.wav")
    os.symlink(folder / "c.wav", folder / "d.wav")
    manifest = tmp_path / "voices.toml"
    manifest.write_text('[[voices]]\nslug = "twice"\nclips = ["clips", "clips/"]\n')

    code, run = _run(["--manifest", str(manifest)], capsys)

    assert sorted((c["clip"], c["status"]) for c in run["clips"]) == [(c, "ok") for c in CLIPS[:3]]
    assert [(r["voice"], r["status"]) for r in run["results"]] == [("twice", "created")]
    problems = _problems(run)
    assert problems.pop("c.wav") == problems.pop("d.wav") == ["symlink loop; refused"]
    assert problems == {c: ["listed twice; used once"] for c in CLIPS[:3]}
    assert code == 1


def test_an_unknown_provider_on_the_command_line_is_named_with_the_near_miss(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--providers", "elevenlab,cartesia", "--json"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unknown provider(s) 'elevenlab' (did you mean 'elevenlabs'?);" in err


@pytest.mark.integration  # a real Prefect server
def test_a_providers_field_rules_refuse_it_before_any_clip_is_prepared(
    prefect_api, env, emulator, tmp_path: Path, capsys
) -> None:
    """A name under Callers.ai's five characters is refused when the voice is read: a voice for
    Callers.ai alone prepares nothing; one for Callers.ai and Cartesia goes on to Cartesia."""
    from flows import config

    inbox = tmp_path / "inbox"
    _voice(inbox, "ada", 'providers = ["callers"]\n')
    code = main(["run", str(inbox), "--providers", "callers", "--workers", "1", "--json"])
    run = json.loads(capsys.readouterr().out)
    assert code == 1 and run["results"] == [] and run["clips"] == []
    assert _problems(run)["ada"] == [
        'name = "ada" (the voice\'s id: set name = "…" to give it another): must be at least 5 '
        "characters on callers; not sent to callers",
        "no provider it is for can take it; voice skipped",
    ]
    assert not config.store_dir().exists() or not any(config.store_dir().iterdir())

    (inbox / "ada" / "voice.toml").unlink()
    code = main(["run", str(inbox), "--providers", "callers,cartesia", "--workers", "1", "--json"])
    run = json.loads(capsys.readouterr().out)
    assert code == 1  # Callers.ai was asked for and not done
    assert [(r["provider"], r["status"]) for r in run["results"]] == [("cartesia", "created")]
    assert _problems(run)["ada"][0].endswith("not sent to callers")
    assert emulator_voices(emulator.url).get("callers", []) == []
