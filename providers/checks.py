"""Small validators shared by the provider modules; each raises InvalidRequest(field, rule)."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from .types import AudioFile, CloneRequest, InvalidRequest

if TYPE_CHECKING:
    from .registry import ProviderSpec


def known_options(provider: str, req: CloneRequest, allowed: Collection[str]) -> None:
    for key in req.options:
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise InvalidRequest(provider, key, f"unknown option; documented options: {names}")


def voice_name(spec: ProviderSpec, value: Any) -> None:
    """The voice's name, within the bounds the provider documents (its registry spec)."""
    text(spec.name, "name", value, required=True, min_len=spec.name_min, max_len=spec.name_max)


def text(
    provider: str,
    field: str,
    value: Any,
    *,
    required: bool = False,
    min_len: int | None = None,
    max_len: int | None = None,
) -> None:
    if value is None or value == "":
        if required:
            raise InvalidRequest(provider, field, "is required")
        return
    if not isinstance(value, str):
        raise InvalidRequest(provider, field, "must be a string")
    if required and not value.strip():
        raise InvalidRequest(provider, field, "must not be blank")
    if min_len is not None and len(value) < min_len:
        raise InvalidRequest(provider, field, f"must be at least {min_len} characters")
    if max_len is not None and len(value) > max_len:
        raise InvalidRequest(provider, field, f"must be at most {max_len} characters")


def number(
    provider: str, field: str, value: Any, lo: float, hi: float, *, required: bool = False
) -> None:
    if value is None:
        if required:
            raise InvalidRequest(provider, field, "is required")
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(provider, field, f"must be a number between {lo} and {hi}")
    if not lo <= value <= hi:
        raise InvalidRequest(provider, field, f"must be between {lo} and {hi}")


def boolean(provider: str, field: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(provider, field, "must be a boolean")


def one_of(provider: str, field: str, value: Any, allowed: Collection[str]) -> None:
    if value is not None and value not in allowed:
        shown = ", ".join(list(allowed)[:12]) + (", …" if len(allowed) > 12 else "")
        raise InvalidRequest(provider, field, f"must be one of: {shown}")


def file_count(
    provider: str, field: str, files: tuple[AudioFile, ...], *, exactly: int | None = None
) -> None:
    if not files:
        raise InvalidRequest(provider, field, "at least one audio file is required")
    if exactly is not None and len(files) != exactly:
        raise InvalidRequest(provider, field, f"takes exactly {exactly} file, got {len(files)}")
    for f in files:
        if not f.data:
            raise InvalidRequest(provider, field, f"file {f.filename!r} is empty")


def extension(f: AudioFile) -> str:
    name = f.filename.rsplit("/", 1)[-1]
    if "." in name:
        return name.rsplit(".", 1)[-1].lower()
    # No extension: fall back to the MIME subtype (audio/wav -> wav, audio/mpeg -> mpeg).
    return f.content_type.split("/", 1)[-1].split(";", 1)[0].lower().removeprefix("x-")


def formats(
    provider: str, field: str, files: Iterable[AudioFile], allowed: Collection[str]
) -> None:
    for f in files:
        if extension(f) not in allowed:
            raise InvalidRequest(
                provider, field, f"{f.filename!r}: format must be one of {', '.join(allowed)}"
            )


def max_bytes(provider: str, field: str, files: Iterable[AudioFile], limit: int) -> None:
    for f in files:
        if len(f.data) > limit:
            raise InvalidRequest(
                provider, field, f"{f.filename!r} is {len(f.data)} bytes; limit {limit}"
            )


def primary_language(tag: str) -> str:
    """BCP 47 "en-US" -> ISO 639 "en", for providers that take bare language codes."""
    return tag.replace("_", "-").split("-", 1)[0].lower()


def form_value(value: Any) -> str:
    """How a form field is written: booleans as true/false, numbers as JSON would."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop unset fields; keep lists (httpx sends them as repeated parts)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out[key] = [form_value(v) for v in value]
        else:
            out[key] = form_value(value)
    return out


def file_part(field: str, f: AudioFile) -> tuple[str, tuple[str, bytes, str]]:
    return (field, (f.filename, f.data, f.content_type))


def setting(name: str, default: str) -> str:
    """A provider setting for a point the docs leave open; read at call time from the env."""
    return os.environ.get(name, default)
