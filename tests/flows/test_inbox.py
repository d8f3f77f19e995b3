"""Inbox discovery: what becomes a voice, and what is refused with the path and the reason."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flow_cases import VOICES

from flows.pipeline import inbox as reading
from flows.pipeline.inbox import Problem, VoiceSpec

# What these tests look at is not any provider's rules: a run on two providers that take short
# names (the rules have tests of their own below).
RUN = ("elevenlabs", "cartesia")


def discover(path: Path, providers=RUN) -> tuple[list[VoiceSpec], list[Problem]]:
    return reading.discover(path, providers)


def load_manifest(path: Path, providers=RUN) -> tuple[list[VoiceSpec], list[Problem]]:
    return reading.load_manifest(path, providers)


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
    _voice(tmp_path, "bobby")
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
    assert (bob.name, bob.language, bob.providers) == ("bobby", "en", None)
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
    assert specs == [] and len(problems) == 1
    assert problems[0].reason == "unknown key 'nmae', did you mean 'name'? (voice skipped)"
    assert discover(tmp_path / "nope")[1][0].reason == "inbox folder does not exist"


def _reasons(problems: list) -> dict[str, str]:
    return {Path(p.path).name: p.reason for p in problems}


def test_symlink_loops_are_refused_where_they_are_and_the_rest_goes_on(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    good = _voice(inbox, "good")
    os.symlink(inbox / "loop-b", inbox / "loop-a")  # at the top of the inbox
    os.symlink(inbox / "loop-a", inbox / "loop-b")
    os.symlink(good / "b.wav", good / "a.wav")  # inside a voice folder
    os.symlink(good / "a.wav", good / "b.wav")
    _voice(inbox, "listed", 'clips = ["a.flac", "x.wav"]\n')
    os.symlink(inbox / "listed" / "x.wav", inbox / "listed" / "x.wav")  # named in voice.toml

    specs, problems = discover(inbox)

    assert [(s.slug, [c.name for c in s.clips]) for s in specs] == [
        ("good", ["a.flac"]),
        ("listed", ["a.flac"]),
    ]
    reasons = _reasons(problems)
    for name in ("loop-a", "loop-b", "a.wav", "b.wav", "x.wav"):
        assert reasons[name] == "symlink loop; refused", name
    assert len(problems) == 5


def test_a_symlink_loop_under_a_manifest_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(CLIP, folder / "a.flac")
    os.symlink(folder / "d.wav", folder / "c.wav")
    os.symlink(folder / "c.wav", folder / "d.wav")
    manifest = tmp_path / "voices.toml"
    manifest.write_text('[[voices]]\nslug = "v"\nclips = ["clips", "clips/c.wav"]\n')

    specs, problems = load_manifest(manifest)

    assert [c.name for c in specs[0].clips] == ["a.flac"]
    assert sorted((Path(p.path).name, p.reason) for p in problems) == [
        ("c.wav", "symlink loop; refused"),  # once, though named twice
        ("d.wav", "symlink loop; refused"),
    ]


def _finishes(work, *args):
    """`work(*args)` in a thread, which must be done within 10 s: opening a FIFO blocks."""
    import threading

    out: list = []
    thread = threading.Thread(target=lambda: out.append(work(*args)), daemon=True)
    thread.start()
    thread.join(10)
    assert out, "blocked: a FIFO was opened"
    return out[0]


def test_fifos_are_refused_without_being_opened(tmp_path: Path) -> None:
    good = _voice(tmp_path, "good")
    os.mkfifo(good / "pipe.wav")
    os.mkfifo(good / "pipe.txt")
    piped = _voice(tmp_path, "piped")
    os.mkfifo(piped / "voice.toml")
    manifest = tmp_path / "voices.toml"
    os.mkfifo(manifest)

    specs, problems = _finishes(discover, tmp_path)

    assert [s.slug for s in specs] == ["good"]
    reasons = _reasons(problems)
    assert reasons["pipe.wav"] == "a FIFO (named pipe), not a regular file; refused"
    assert reasons["pipe.txt"] == "not an audio file extension; skipped"
    assert "FIFO" in reasons["voice.toml"] and "voice skipped" in reasons["voice.toml"]
    specs, problems = _finishes(load_manifest, manifest)
    assert specs == [] and "a FIFO (named pipe), not a regular file" in problems[0].reason


def test_unreadable_folders_and_files_are_refused_and_the_rest_goes_on(
    tmp_path: Path, monkeypatch
) -> None:
    """Faked: the tests may run as root, who reads everything."""
    inbox = tmp_path / "inbox"
    _voice(inbox, "good")
    locked = _voice(inbox, "locked")
    secret = _voice(inbox, "secret") / "a.flac"
    iterdir, open_ = Path.iterdir, Path.open

    def no_listing(self: Path):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    def no_reading(self: Path, *args, **kwargs):
        if self == secret:
            raise PermissionError(13, "Permission denied", str(self))
        return open_(self, *args, **kwargs)

    monkeypatch.setattr(Path, "iterdir", no_listing)
    monkeypatch.setattr(Path, "open", no_reading)
    specs, problems = discover(inbox)

    assert [s.slug for s in specs] == ["good"]
    assert [(Path(p.path).name, p.reason) for p in problems] == [
        ("locked", "cannot list the folder: Permission denied; skipped"),
        ("locked", "no readable audio clips; voice skipped"),
        ("a.flac", "cannot read: Permission denied; refused"),
        ("secret", "no readable audio clips; voice skipped"),
    ]


def test_a_folder_listed_twice_gives_each_clip_once(tmp_path: Path) -> None:
    shutil.copytree(VOICES / "libri-3080", tmp_path / "f")
    one = tmp_path / "f" / "3080-5032-0000.flac"
    manifest = tmp_path / "voices.toml"
    manifest.write_text(
        '[[voices]]\nslug = "f"\nclips = ["f", "f/", "f/../f/3080-5032-0000.flac"]\n'
    )
    os.symlink(one, tmp_path / "f" / "again.flac")  # the same file under another name

    specs, problems = load_manifest(manifest)

    clips = specs[0].clips
    assert len(clips) == 10 and len({c.resolve() for c in clips}) == 10
    assert "again.flac" not in {c.name for c in clips}
    twice = [p for p in problems if p.reason.startswith("listed twice")]
    # "f": the symlink; "f/": the 10 files again (the symlink's line is not repeated); the file
    assert len(problems) == len(twice) == 12
    assert twice[-1].path.endswith("3080-5032-0000.flac")
    assert (
        twice[-1].reason
        == f"listed twice (also as {tmp_path / 'f' / '3080-5032-0000.flac'}); used once"
    )


def test_voice_toml_mistakes_skip_the_voice_naming_the_key_and_the_value(tmp_path: Path) -> None:
    _voice(tmp_path, "typo", 'providers = ["elevenlab", "cartesia"]\n')
    _voice(tmp_path, "number", "name = 123\n")
    _voice(tmp_path, "wordy", f'description = "{"x" * 1_048_576}"\n')
    _voice(tmp_path, "kinds", 'clips = "a.flac"\ngender = true\nlanguage = ""\n')
    _voice(tmp_path, "opts", "[options.cartesia]\nenhanse = false\n[options.elevenlab]\nx = 1\n")
    _voice(tmp_path, "good", 'providers = ["elevenlabs"]\ndescription = "' + "d" * 300 + '"\n')

    specs, problems = discover(tmp_path)

    assert [s.slug for s in specs] == ["good"]  # Althea's 240 does not apply: not sent there
    by_voice: dict[str, list[str]] = {}
    for p in problems:
        assert p.path.endswith("voice.toml") and p.reason.endswith("(voice skipped)")
        by_voice.setdefault(Path(p.path).parent.name, []).append(p.reason)
    assert by_voice["typo"] == [
        "providers: 'elevenlab' is not a provider, did you mean 'elevenlabs'? "
        "(known: anam, althea, faseeh, callers, elevenlabs, cartesia) (voice skipped)"
    ]
    assert by_voice["number"] == ["name = 123: must be a string, in quotes (voice skipped)"]
    wordy = by_voice["wordy"]
    assert wordy[0].startswith('description = "xxxxxxxx') and len(wordy[0]) < 200
    assert "is 1,048,576 characters; at most 1,000 are accepted" in wordy[0] and len(wordy) == 1
    assert by_voice["kinds"] == [
        'language = "": must not be empty (leave it out for the default) (voice skipped)',
        "gender = true: must be a string, in quotes (voice skipped)",
        'clips = "a.flac": must be a list of paths, in quotes (voice skipped)',
    ]
    assert by_voice["opts"][0].startswith(
        "options.cartesia.enhanse: not an option of cartesia, did you mean 'enhance'?"
    )
    assert by_voice["opts"][1].startswith(
        "[options.elevenlab]: 'elevenlab' is not a provider, did you mean 'elevenlabs'?"
    )


def test_provider_limits_follow_the_runs_providers(tmp_path: Path) -> None:
    _voice(tmp_path, "long", 'name = "' + "n" * 41 + '"\n')
    assert discover(tmp_path, ["elevenlabs", "cartesia"])[0][0].name == "n" * 41
    specs, problems = discover(tmp_path, ["althea", "cartesia"])
    assert [s.providers for s in specs] == [("cartesia",)]  # the rest of the voice goes on
    assert [p.reason for p in problems] == [
        f'name = "{"n" * 38}…: must be at most 40 characters on althea; not sent to althea'
    ]
    assert discover(tmp_path, ["althea"]) == (
        [],
        [
            Problem(str(tmp_path / "long"), problems[0].reason),
            Problem(str(tmp_path / "long"), "no provider it is for can take it; voice skipped"),
        ],
    )


def test_every_providers_field_rules_are_checked_when_the_voice_is_read(tmp_path: Path) -> None:
    """Before any clip is prepared: a name too short for Callers.ai, a language Cartesia does
    not speak, an option out of its documented range. Each leaves out only its provider."""
    _voice(tmp_path, "ada")
    _voice(tmp_path, "farsi", 'name = "Farsi Voice"\nlanguage = "fa-IR"\n')
    _voice(tmp_path, "shaky", 'name = "Shaky Voice"\n[options.callers]\nstability = 2\n')
    specs, problems = discover(tmp_path, ["callers", "cartesia", "elevenlabs"])
    by_voice = {Path(p.path).name: p.reason for p in problems}
    assert by_voice == {
        "ada": 'name = "ada" (the voice\'s id: set name = "…" to give it another): must be at '
        "least 5 characters on callers; not sent to callers",
        "farsi": 'language = "fa-IR": must be one of: en, fr, de, es, pt, zh, ja, hi, it, ko, nl, '
        "pl, … on cartesia; not sent to cartesia",
        "shaky": "stability = 2: must be between 0 and 1 on callers; not sent to callers",
    }
    assert {s.slug: s.providers for s in specs} == {
        "ada": ("cartesia", "elevenlabs"),
        "farsi": ("callers", "elevenlabs"),
        "shaky": ("cartesia", "elevenlabs"),
    }


def test_reference_recordings_are_checked_and_reach_the_spec(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    outside = tmp_path / "elsewhere.flac"
    shutil.copy(CLIP, outside)
    ok = _voice(inbox, "ok", 'reference = ["a.flac", "refs/b.flac"]\n')
    (ok / "refs").mkdir()
    shutil.copy(CLIP, ok / "refs" / "b.flac")
    _voice(inbox, "missing", 'reference = ["gone.wav"]\n')
    (_voice(inbox, "text", 'reference = ["notes.txt"]\n') / "notes.txt").write_text("hi")
    _voice(inbox, "escapes", 'reference = ["../../elsewhere.flac"]\n')
    _voice(inbox, "typed", "reference = [1]\n")

    specs, problems = discover(inbox)

    assert [s.slug for s in specs] == ["ok"]
    assert specs[0].reference == (ok / "a.flac", ok / "refs" / "b.flac")
    assert specs[0].reference[0] in specs[0].clips  # a reference may be a clip too
    reasons = _reasons(problems)
    toml = inbox / "missing" / "voice.toml"
    assert reasons["gone.wav"] == (
        f"reference of {toml}: file not found (or a broken symlink) (voice skipped)"
    )
    assert "not an audio file extension (voice skipped)" in reasons["notes.txt"]
    assert "outside the inbox (voice skipped)" in reasons["elsewhere.flac"]
    assert (
        reasons["voice.toml"]
        == "reference = [1]: must be a list of paths, in quotes (voice skipped)"
    )

    manifest = tmp_path / "voices.toml"
    manifest.write_text(
        '[[voices]]\nslug = "m"\nclips = ["elsewhere.flac"]\nreference = ["elsewhere.flac"]\n'
    )
    specs, problems = load_manifest(manifest)
    assert problems == [] and specs[0].reference == (outside,)

    refs = tmp_path / "refs"  # a folder names the recordings in it, as the README says
    refs.mkdir()
    shutil.copy(CLIP, refs / "one.flac")
    shutil.copy(CLIP, refs / "two.wav")
    (refs / "notes.txt").write_text("not audio")
    (tmp_path / "empty").mkdir()
    manifest.write_text(
        '[[voices]]\nslug = "m"\nclips = ["elsewhere.flac"]\nreference = ["refs"]\n'
        '[[voices]]\nslug = "n"\nclips = ["elsewhere.flac"]\nreference = ["empty/"]\n'
    )
    specs, problems = load_manifest(manifest)
    assert [s.slug for s in specs] == ["m"] and specs[0].reference == (
        refs / "one.flac",
        refs / "two.wav",
    )
    assert _reasons(problems)["empty"].endswith(
        "a folder with no audio files in it (voice skipped)"
    )


def test_manifest_mistakes_name_the_entry(tmp_path: Path) -> None:
    shutil.copy(CLIP, tmp_path / "a.flac")
    manifest = tmp_path / "voices.toml"
    manifest.write_text(
        '[[voices]]\nslug = "a"\nclips = ["a.flac"]\n'
        '[[voices]]\nslug = "a"\nclips = ["a.flac"]\n'
        '[[voices]]\nslug = 7\nclips = ["a.flac"]\n'
        '[[voice]]\nslug = "b"\n'
    )
    specs, problems = load_manifest(manifest)
    assert [s.slug for s in specs] == ["a"]
    assert [(Path(p.path).name, p.reason) for p in problems] == [
        ("voices.toml", "unknown key 'voice', did you mean 'voices'? (ignored)"),
        (
            "voices.toml#voices[1]",
            f"voice id 'a' is already used by {manifest}#voices[0] (voice skipped)",
        ),
        ("voices.toml#voices[2]", "slug = 7: must be a string, in quotes (voice skipped)"),
    ]
