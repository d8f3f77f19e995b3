"""Find the voices to clone: folders under an inbox, or a manifest listing clips anywhere on disk.

Every problem is reported with the path and the reason, and never stops the rest of the discovery:
nothing on disk (a symlink loop, an unreadable folder, a FIFO) and nothing written in a TOML file
raises out of here. A voice whose voice.toml or manifest entry is wrong in any way is skipped
whole, every mistake named, rather than cloned from a guess at what was meant.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import functools
import json
import re
import stat
import tomllib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers import NAMES as PROVIDER_NAMES
from providers.types import AudioFile, CloneRequest

# The one list of audio file extensions (inbox discovery and `voxclone prepare` folders); ffmpeg
# decodes them all.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm",
     ".aif", ".aiff", ".wma", ".mka"}
)  # fmt: skip
MANIFEST = "voice.toml"
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TEXT_FIELDS = ("name", "language", "description", "gender", "consent")
PATH_FIELDS = ("clips", "reference")
FIELDS = frozenset({*TEXT_FIELDS, *PATH_FIELDS, "providers", "options"})
MANIFEST_FIELDS = FIELDS | {"slug"}
# Ours, whatever the providers allow: a description is a line or two; more is a pasted file.
DESCRIPTION_MAX = 1000
SHOWN = 40  # characters of a value quoted in a problem


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
    reference: tuple[Path, ...] = ()  # recordings known to be this voice's own speaker

    def request(self, provider: str, files: tuple[AudioFile, ...]) -> CloneRequest:
        """What `provider` is sent for this voice, with these files."""
        return CloneRequest(
            name=self.name,
            files=files,
            language=self.language,
            description=self.description,
            gender=self.gender,
            options=self.options.get(provider, {}),
        )


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


class Refused(Exception):
    """Why a path cannot be used; the caller turns it into a Problem."""


def discover(
    inbox: Path, providers: Sequence[str] | None = None
) -> tuple[list[VoiceSpec], list[Problem]]:
    """A voice is a folder of clips, with an optional voice.toml next to them.

    `providers` are the run's (default: all of them): a provider whose documented rules on names
    and fields a voice breaks is left out for that voice, each named in a problem, before any
    clip is prepared; the voice goes on to the others.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        return [], [Problem(str(inbox), "inbox folder does not exist")]
    root = inbox.resolve()
    specs: list[VoiceSpec] = []
    problems: list[Problem] = []
    for entry in _listing(inbox, problems):
        if entry.name.startswith("."):
            continue
        try:
            _check_inside(entry, root, "symlink points outside the inbox")
        except Refused as e:
            problems.append(Problem(str(entry), f"{e}; refused"))
            continue
        if entry.is_dir():
            spec = _voice_from_folder(entry, root, providers, problems)
            if spec:
                specs.append(spec)
        elif entry.suffix.lower() in AUDIO_EXTENSIONS:
            problems.append(Problem(str(entry), "clips must sit in a folder per voice; skipped"))
    return specs, _distinct(problems)


def load_manifest(
    path: Path, providers: Sequence[str] | None = None
) -> tuple[list[VoiceSpec], list[Problem]]:
    """A TOML file with [[voices]] tables (slug, name, clips = [files or folders], …)."""
    path = Path(path)
    try:
        data = _read_toml(path)
    except Refused as e:
        return [], [Problem(str(path), f"cannot read manifest: {e}")]
    problems = [
        Problem(str(path), f"unknown key {k!r}{_did_you_mean(k, ['voices'])} (ignored)")
        for k in sorted(set(data) - {"voices"})
    ]
    voices = data.get("voices", [])
    if not isinstance(voices, list) or not all(isinstance(t, dict) for t in voices):
        return [], [*problems, Problem(str(path), "voices must be [[voices]] tables")]
    specs: list[VoiceSpec] = []
    used: dict[str, str] = {}
    for i, table in enumerate(voices):
        where = f"{path}#voices[{i}]"
        spec = _voice_from_table(table, path.parent, providers, where, problems)
        if spec and spec.slug in used:
            reason = f"voice id {spec.slug!r} is already used by {used[spec.slug]} (voice skipped)"
            problems.append(Problem(where, reason))
        elif spec:
            used[spec.slug] = where
            specs.append(spec)
    if not specs and not problems:
        problems.append(Problem(str(path), "manifest lists no [[voices]]"))
    return specs, _distinct(problems)


def _distinct(problems: list[Problem]) -> list[Problem]:
    """Each problem once: a folder named twice would report its refusals twice."""
    return list(dict.fromkeys(problems))


def _voice_from_folder(
    folder: Path, root: Path, providers: Sequence[str] | None, problems: list[Problem]
) -> VoiceSpec | None:
    toml = folder / MANIFEST
    meta: dict[str, Any] = {}
    if toml.exists() or toml.is_symlink():  # a dangling or looping voice.toml is still reported
        try:
            meta = _read_toml(toml)
        except Refused as e:
            problems.append(Problem(str(toml), f"cannot read voice.toml: {e}; voice skipped"))
            return None
    if not _valid(meta, FIELDS, str(toml), problems):
        return None
    reference = _references(meta.get("reference", []), folder, root, str(toml), problems)
    if reference is None:
        return None
    if "clips" in meta:
        clips = _clips_listed(meta["clips"], folder, root, problems)
    else:
        clips = _clips_in(folder, root, problems)
    clips = _once(clips, problems)
    return _spec(folder.name, meta, clips, reference, str(folder), problems, providers)


def _voice_from_table(
    table: dict[str, Any],
    base: Path,
    providers: Sequence[str] | None,
    where: str,
    problems: list[Problem],
) -> VoiceSpec | None:
    """One [[voices]] table; its paths are relative to the manifest's folder."""
    if not _valid(table, MANIFEST_FIELDS, where, problems):
        return None
    slug = table.get("slug")
    if slug is None:  # derived from the name, as a folder name would be
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", table.get("name", "")).strip("-")
    reference = _references(table.get("reference", []), base, None, where, problems)
    if reference is None:
        return None
    clips = _once(_clips_listed(table.get("clips", []), base, None, problems), problems)
    meta = {k: v for k, v in table.items() if k != "slug"}
    return _spec(slug, meta, clips, reference, where, problems, providers)


def _spec(
    slug: str,
    meta: dict[str, Any],
    clips: list[Path],
    reference: tuple[Path, ...],
    where: str,
    problems: list[Problem],
    run_providers: Sequence[str] | None,
) -> VoiceSpec | None:
    """The voice from fields `_valid` has passed (nothing is converted here), without the
    providers whose documented rules it breaks (each named in a problem)."""
    if not SLUG.match(slug):
        problems.append(Problem(where, f"voice id {slug!r} must be 1–64 of A-Z a-z 0-9 . _ -"))
        return None
    if not clips:
        problems.append(Problem(where, "no readable audio clips; voice skipped"))
        return None
    providers = meta.get("providers")
    spec = VoiceSpec(
        slug=slug,
        name=meta.get("name", slug),
        clips=tuple(clips),
        language=meta.get("language", "en"),
        description=meta.get("description"),
        gender=meta.get("gender"),
        consent=meta.get("consent"),
        providers=tuple(providers) if providers is not None else None,
        options={k: dict(v) for k, v in meta.get("options", {}).items()},
        reference=reference,
    )
    refused = _refused_by(spec, run_providers)
    problems.extend(Problem(where, why) for why in refused.values())
    if not refused:
        return spec
    left = [p for p in _destinations(spec, run_providers) if p not in refused]
    if not left:
        problems.append(Problem(where, "no provider it is for can take it; voice skipped"))
        return None
    return dataclasses.replace(spec, providers=tuple(left))


# --- what a voice.toml or a manifest entry may say -----------------------------------------


def _valid(
    meta: dict[str, Any], allowed: frozenset[str], where: str, problems: list[Problem]
) -> bool:
    """Every mistake becomes a Problem; one is enough to skip the voice."""
    mistakes = _mistakes(meta, allowed)
    problems.extend(Problem(where, f"{m} (voice skipped)") for m in mistakes)
    return not mistakes


def _mistakes(meta: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    """Each way the fields are wrong, naming the key and the value as written."""
    out = [f"unknown key {k!r}{_did_you_mean(k, allowed)}" for k in sorted(set(meta) - allowed)]
    for key in (*TEXT_FIELDS, "slug"):
        if key in meta and not isinstance(meta[key], str):
            out.append(f"{key} = {_show(meta[key])}: must be a string, in quotes")
        elif key in ("name", "language") and meta.get(key) == "":
            out.append(f'{key} = "": must not be empty (leave it out for the default)')
    for key in PATH_FIELDS:
        if key in meta and not (_strings(meta[key]) and all(meta[key])):
            out.append(f"{key} = {_show(meta[key])}: must be a list of paths, in quotes")
    return out + _provider_mistakes(meta) + _size_mistakes(meta)


def _provider_mistakes(meta: dict[str, Any]) -> list[str]:
    out = []
    listed = meta.get("providers")
    if listed is not None and not _strings(listed):
        out.append(f"providers = {_show(listed)}: must be a list of provider names, in quotes")
    elif listed is not None:
        out += [f"providers: {_unknown(p)}" for p in listed if p not in PROVIDER_NAMES]
        if not listed:
            out.append("providers = []: names no provider (leave it out for the run's)")
    options = meta.get("options", {})
    if not isinstance(options, dict):
        out.append(f"options = {_show(options)}: must be tables per provider, e.g. [options.anam]")
        return out
    for name, table in options.items():
        if name not in PROVIDER_NAMES:
            out.append(f"[options.{name}]: {_unknown(name)}")
        elif not isinstance(table, dict):
            out.append(f"options.{name} = {_show(table)}: must be a table, [options.{name}]")
        else:
            known = _options(name)
            out += [
                f"options.{name}.{key}: not an option of {name}{_did_you_mean(key, known)} "
                f"(its documented options: {', '.join(known) or 'none'})"
                for key in table
                if key not in known
            ]
    return out


def _size_mistakes(meta: dict[str, Any]) -> list[str]:
    """Our own cap on descriptions (a provider's limits leave out only that provider, see
    `_refused_by`)."""
    description = meta.get("description")
    if isinstance(description, str) and len(description) > DESCRIPTION_MAX:
        return [
            f"description = {_show(description)} is {len(description):,} characters; "
            f"at most {DESCRIPTION_MAX:,} are accepted"
        ]
    return []


def _destinations(spec: VoiceSpec, run: Sequence[str] | None) -> list[str]:
    """The providers a voice will be sent to: the run's, narrowed by its own `providers`."""
    return [p for p in (run or PROVIDER_NAMES) if spec.providers is None or p in spec.providers]


def _refused_by(spec: VoiceSpec, run: Sequence[str] | None) -> dict[str, str]:
    """Each provider the voice is for whose documented rules on names and fields it breaks, and
    why: checked by the provider's own `validate` when the voice is read, before any clip is
    prepared (on a stand-in file: the takes' own rules are checked once they exist)."""
    import providers as providers_package
    from providers.types import InvalidRequest

    stand_in = (AudioFile("take.wav", b"RIFF", "audio/wav"),)
    refused = {}
    for provider in _destinations(spec, run):
        request = spec.request(provider, stand_in)
        try:
            providers_package.get(provider).validate(request)
        except InvalidRequest as e:
            value = getattr(request, e.field, request.options.get(e.field))
            said = f"{e.field} = {_show(value)}" if value is not None else e.field
            if e.field == "name" and spec.name == spec.slug:
                said += ' (the voice\'s id: set name = "…" to give it another)'
            refused[provider] = f"{said}: {e.rule} on {provider}; not sent to {provider}"
    return refused


@functools.cache
def _options(provider: str) -> tuple[str, ...]:
    """The options a provider's module documents (OPTIONS), read from the module so these checks
    and the ones before sending cannot drift apart."""
    import providers as providers_package

    return tuple(getattr(providers_package.get(provider), "OPTIONS", ()))


def _unknown(name: str) -> str:
    return (
        f"{name!r} is not a provider{_did_you_mean(name, PROVIDER_NAMES)} "
        f"(known: {', '.join(PROVIDER_NAMES)})"
    )


def _did_you_mean(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f", did you mean {close[0]!r}?" if close else ""


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _show(value: Any) -> str:
    """A value roughly as TOML writes it, cut short: a 1 MB description is quoted, not printed."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


# --- paths ------------------------------------------------------------------------------------


def _references(
    listed: list[str], base: Path, root: Path | None, where: str, problems: list[Problem]
) -> tuple[Path, ...] | None:
    """Recordings of the voice's own speaker (they may also be clips; a folder is the audio
    files in it); None when one is refused, which skips the voice: a speaker check against the
    wrong reference would be worse than none."""
    refs, refused = [], False
    for item in listed:
        path = base / item
        try:
            if root is not None:
                _check_inside(path, root, "outside the inbox")
            for found in _reference_files(path):
                if root is not None:
                    _check_inside(found, root, "outside the inbox")
                _check_readable(found)
                refs.append(found)
        except Refused as e:
            problems.append(Problem(str(path), f"reference of {where}: {e} (voice skipped)"))
            refused = True
    return None if refused else tuple(refs)


def _reference_files(path: Path) -> list[Path]:
    if path.is_dir():
        found = [p for p in sorted(path.iterdir())
                 if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")]  # fmt: skip
        if not found:
            raise Refused("a folder with no audio files in it")
        return found
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise Refused("not an audio file extension")
    return [path]


def _clips_in(folder: Path, root: Path, problems: list[Problem]) -> list[Path]:
    clips = []
    for path in _listing(folder, problems):
        if path.name.startswith(".") or path.name == MANIFEST:
            continue
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            if not path.is_dir():  # sub-folders are not clips; anything else is worth a word
                problems.append(Problem(str(path), "not an audio file extension; skipped"))
            continue
        if _usable(path, root, problems):
            clips.append(path)
    return clips


def _clips_listed(
    listed: list[str], base: Path, root: Path | None, problems: list[Problem]
) -> list[Path]:
    clips: list[Path] = []
    for item in listed:
        path = base / item
        try:
            if root is not None:
                _check_inside(path, root, "path escapes the inbox")
            folder = _resolve(path) if path.is_dir() else None
        except Refused as e:
            problems.append(Problem(str(path), f"{e}; refused"))
            continue
        if folder is not None:
            clips.extend(_clips_in(path, root or folder, problems))
        elif _usable(path, root, problems):
            clips.append(path)
    return clips


def _once(clips: list[Path], problems: list[Problem]) -> list[Path]:
    """Each file once, however often it was named (a folder and the same folder with a trailing
    slash, a symlink beside its target): two tasks preparing one file is work done twice."""
    first: dict[Path, Path] = {}
    out = []
    for clip in clips:
        real = clip.resolve()  # `_usable` has opened it: no loop here
        if real not in first:
            first[real] = clip
            out.append(clip)
            continue
        also = "" if first[real] == clip else f" (also as {first[real]})"
        problems.append(Problem(str(clip), f"listed twice{also}; used once"))
    return out


def _usable(path: Path, root: Path | None, problems: list[Problem]) -> bool:
    try:
        if root is not None:
            _check_inside(path, root, "symlink points outside the inbox")
        _check_readable(path)
    except Refused as e:
        problems.append(Problem(str(path), f"{e}; refused"))
        return False
    return True


def _listing(folder: Path, problems: list[Problem]) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        problems.append(Problem(str(folder), f"{_why(e, 'cannot list the folder')}; skipped"))
        return []


def _read_toml(path: Path) -> dict[str, Any]:
    _check_readable(path)  # a FIFO named voice.toml would block the run on open
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise Refused(str(e)) from None


def _check_readable(path: Path) -> None:
    """A regular file we can read. A FIFO, device or socket is refused from its stat alone:
    opening a FIFO blocks until something writes to it."""
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise Refused(_why(e)) from None
    if not stat.S_ISREG(mode):
        raise Refused(f"{_kind(mode)}, not a regular file")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise Refused(_why(e)) from None


def _check_inside(path: Path, root: Path, outside: str) -> None:
    if not _resolve(path).is_relative_to(root):
        raise Refused(outside)


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except RuntimeError:  # Path.resolve's "Symlink loop" on Python 3.11 and 3.12
        raise Refused("symlink loop") from None
    except OSError as e:
        raise Refused(_why(e)) from None


def _why(e: OSError, doing: str = "cannot read") -> str:
    if e.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(e, FileNotFoundError):
        return "file not found (or a broken symlink)"
    return f"{doing}: {e.strerror or e}"


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "a special file")
