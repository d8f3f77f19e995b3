"""Find the voices to clone: folders under an inbox, or a manifest listing clips anywhere on disk.

Every problem is reported with the path and the reason, and never stops the rest of the discovery.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The one list of audio file extensions (inbox discovery and `voxclone prepare` folders); ffmpeg
# decodes them all.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm",
     ".aif", ".aiff", ".wma", ".mka"}
)  # fmt: skip
MANIFEST = "voice.toml"
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FIELDS = {
    "name", "language", "description", "gender", "consent", "providers", "options", "clips",
    "reference",
}  # fmt: skip


@dataclass(frozen=True)
class VoiceSpec:
    """One voice to clone: who it is, where its clips are, and per-provider options."""

    slug: str
    name: str
    clips: tuple[Path, ...]
    language: str = "en"
    description: str | None = None
    gender: str | None = None
    consent: str | None = None
    providers: tuple[str, ...] | None = None  # None: every provider the run asks for
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: tuple[Path, ...] = ()  # recordings of the voice's own speaker


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


def discover(inbox: Path) -> tuple[list[VoiceSpec], list[Problem]]:
    """A voice is a folder of clips, with an optional voice.toml next to them."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return [], [Problem(str(inbox), "inbox folder does not exist")]
    root = inbox.resolve()
    specs: list[VoiceSpec] = []
    problems: list[Problem] = []
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith("."):
            continue
        if not _inside(entry, root):
            problems.append(Problem(str(entry), "symlink points outside the inbox; refused"))
        elif entry.is_dir():
            spec = _voice_from_folder(entry, root, problems)
            if spec:
                specs.append(spec)
        elif entry.suffix.lower() in AUDIO_EXTENSIONS:
            problems.append(Problem(str(entry), "clips must sit in a folder per voice; skipped"))
    return specs, problems


def load_manifest(path: Path) -> tuple[list[VoiceSpec], list[Problem]]:
    """A TOML file with [[voices]] tables (slug, name, clips = [files or folders], …)."""
    path = Path(path)
    problems: list[Problem] = []
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return [], [Problem(str(path), f"cannot read manifest: {e}")]
    specs = []
    for i, table in enumerate(data.get("voices", [])):
        where = f"{path}#voices[{i}]"
        slug = str(table.get("slug") or table.get("name") or "")
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", slug).strip("-")
        clips = _clips_listed(table.get("clips", []), path.parent, None, where, problems)
        spec = _spec(slug, {k: v for k, v in table.items() if k != "slug"}, clips, where, problems)
        if spec:
            specs.append(spec)
    if not specs and not problems:
        problems.append(Problem(str(path), "manifest lists no [[voices]]"))
    return specs, problems


def _voice_from_folder(folder: Path, root: Path, problems: list[Problem]) -> VoiceSpec | None:
    meta: dict[str, Any] = {}
    manifest = folder / MANIFEST
    if manifest.exists():
        try:
            meta = tomllib.loads(manifest.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            problems.append(Problem(str(manifest), f"cannot read voice.toml: {e}; voice skipped"))
            return None
    if "clips" in meta:
        clips = _clips_listed(meta["clips"], folder, root, str(manifest), problems)
    else:
        clips = _clips_in(folder, root, problems)
    return _spec(folder.name, meta, clips, str(folder), problems, base=folder)


def _spec(
    slug: str,
    meta: dict[str, Any],
    clips: list[Path],
    where: str,
    problems: list[Problem],
    base: Path | None = None,
) -> VoiceSpec | None:
    unknown = set(meta) - FIELDS
    if unknown:
        problems.append(Problem(where, f"unknown field(s) {sorted(unknown)}; voice skipped"))
        return None
    if not SLUG.match(slug):
        problems.append(Problem(where, f"voice id {slug!r} must be 1–64 of A-Z a-z 0-9 . _ -"))
        return None
    if not clips:
        problems.append(Problem(where, "no readable audio clips; voice skipped"))
        return None
    providers = meta.get("providers")
    options = meta.get("options", {})
    if providers is not None and not (
        isinstance(providers, list) and all(isinstance(p, str) for p in providers)
    ):
        problems.append(Problem(where, "providers must be a list of provider names"))
        return None
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        problems.append(
            Problem(where, "options must be tables per provider, e.g. [options.cartesia]")
        )
        return None
    return VoiceSpec(
        slug=slug,
        name=str(meta.get("name") or slug),
        clips=tuple(clips),
        language=str(meta.get("language") or "en"),
        description=meta.get("description"),
        gender=meta.get("gender"),
        consent=meta.get("consent"),
        providers=tuple(providers) if providers is not None else None,
        options={k: dict(v) for k, v in options.items()},
        reference=tuple((base or Path(where).parent) / str(r) for r in meta.get("reference", [])),
    )


def _clips_in(folder: Path, root: Path, problems: list[Problem]) -> list[Path]:
    clips = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == MANIFEST:
            continue
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            if path.is_file():
                problems.append(Problem(str(path), "not an audio file extension; skipped"))
            continue
        if _usable(path, root, problems):
            clips.append(path)
    return clips


def _clips_listed(
    listed: Any, base: Path, root: Path | None, where: str, problems: list[Problem]
) -> list[Path]:
    if not isinstance(listed, list):
        problems.append(Problem(where, "clips must be a list of paths"))
        return []
    clips: list[Path] = []
    for item in listed:
        path = base / str(item)
        if root is not None and not _inside(path, root):
            problems.append(Problem(str(path), "path escapes the inbox; refused"))
        elif path.is_dir():
            clips.extend(_clips_in(path, root or path.resolve(), problems))
        elif _usable(path, root, problems):
            clips.append(path)
    return clips


def _usable(path: Path, root: Path | None, problems: list[Problem]) -> bool:
    if root is not None and not _inside(path, root):
        problems.append(Problem(str(path), "symlink points outside the inbox; refused"))
        return False
    if not path.exists():
        problems.append(Problem(str(path), "file not found (or a broken symlink)"))
        return False
    if not path.is_file():
        problems.append(Problem(str(path), "not a regular file"))
        return False
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        problems.append(Problem(str(path), f"cannot read: {e.strerror or e}"))
        return False
    return True


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)
