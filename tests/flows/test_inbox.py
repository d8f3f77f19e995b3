"""Inbox discovery: what becomes a voice, and what is refused with the path and the reason."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flow_cases import VOICES

from flows.pipeline.inbox import discover, load_manifest

CLIP = VOICES / "libri-2414" / "2414-128291-0000.flac"


def _voice(root: Path, name: str, toml: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copy(CLIP, folder / "a.flac")
    if toml is not None:
        (folder / "voice.toml").write_text(toml)
    return folder


def test_manifest_fields_and_folder_name_inference(tmp_path: Path) -> None:
    _voice(
        tmp_path,
        "ann",
        'name = "Ann"\nlanguage = "ar-SA"\nproviders = ["cartesia"]\n[options.cartesia]\nenhance = false\n',
    )
    _voice(tmp_path, "bob")
    specs, problems = discover(tmp_path)
    assert problems == []
    ann, bob = specs
    assert (ann.slug, ann.name, ann.language, ann.providers) == (
        "ann",
        "Ann",
        "ar-SA",
        ("cartesia",),
    )
    assert ann.options == {"cartesia": {"enhance": False}}
    assert (bob.name, bob.language, bob.providers) == ("bob", "en", None)
    assert [c.name for c in bob.clips] == ["a.flac"]


def test_bad_entries_are_refused_with_reasons_and_the_rest_goes_on(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    good = _voice(inbox, "good")
    _voice(inbox, "broken-toml", "name = \n")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(CLIP, outside / "secret.flac")
    os.symlink(outside / "secret.flac", good / "link.flac")  # symlink out of the inbox
    os.symlink(outside, inbox / "linked-voice")  # a whole voice folder outside
    os.symlink(good / "missing.flac", good / "dangling.flac")
    (good / "dir.wav").mkdir()  # not a regular file
    (good / "notes.txt").write_text("hello")
    _voice(inbox, "escaper", 'clips = ["../../outside/secret.flac", "a.flac"]\n')
    shutil.copy(CLIP, inbox / "loose.flac")

    specs, problems = discover(inbox)
    by_path = {Path(p.path).name: p.reason for p in problems}
    assert [s.slug for s in specs] == ["escaper", "good"]
    assert [c.name for c in specs[1].clips] == ["a.flac"]
    assert [c.name for c in specs[0].clips] == ["a.flac"]
    assert "outside the inbox" in by_path["link.flac"]
    assert "outside the inbox" in by_path["linked-voice"]
    assert "broken symlink" in by_path["dangling.flac"]
    assert "not a regular file" in by_path["dir.wav"]
    assert "not an audio file" in by_path["notes.txt"]
    assert "escapes the inbox" in by_path["secret.flac"]
    assert "folder per voice" in by_path["loose.flac"]
    assert "voice.toml" in by_path["voice.toml"]


def test_manifest_lists_voices_anywhere(tmp_path: Path) -> None:
    shutil.copytree(VOICES / "libri-3080", tmp_path / "somewhere" / "f")
    manifest = tmp_path / "voices.toml"
    manifest.write_text(
        '[[voices]]\nslug = "f"\nname = "F"\nclips = ["somewhere/f"]\n'
        '[[voices]]\nname = "Ghost"\nclips = ["nope.wav"]\n'
    )
    specs, problems = load_manifest(manifest)
    assert [s.slug for s in specs] == ["f"]
    assert len(specs[0].clips) == 10
    assert any("file not found" in p.reason for p in problems)
    assert any("no readable audio clips" in p.reason for p in problems)


def test_unknown_fields_and_missing_inbox_are_reported(tmp_path: Path) -> None:
    _voice(tmp_path, "typo", 'nmae = "x"\n')
    specs, problems = discover(tmp_path)
    assert specs == [] and "unknown field" in problems[0].reason
    assert discover(tmp_path / "nope")[1][0].reason == "inbox folder does not exist"
