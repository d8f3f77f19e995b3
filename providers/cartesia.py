"""Cartesia: one clip per voice, a required language, and a dated API version header."""

from __future__ import annotations

from typing import Any

from . import checks
from .http import Client
from .redact import redact
from .registry import SPECS
from .types import ClonedVoice, CloneRequest

SPEC = SPECS["cartesia"]
NAME = SPEC.name

VERSION_ENV = "CARTESIA_VERSION"
DEFAULT_VERSION = "2025-04-16"
FORMATS = ("flac", "mp3", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
# The 2025-04-16 enum, plus the codes the current page names beyond it (REFERENCE.md §6 lists
# only these of its 42). Extend with $CARTESIA_EXTRA_LANGUAGES (comma-separated).
LANGUAGES = (
    "en", "fr", "de", "es", "pt", "zh", "ja", "hi", "it", "ko", "nl", "pl", "ru", "sv", "tr",
    "ar", "he", "tl", "bg", "ro",
)  # fmt: skip
EXTRA_LANGUAGES_ENV = "CARTESIA_EXTRA_LANGUAGES"
OPTIONS = ("base_voice_id", "language", "enhance")
METADATA = ("language",)  # options that describe the voice, not shape it (see registry)
PAGE_LIMIT = 100


def languages() -> tuple[str, ...]:
    extra = [x.strip() for x in checks.setting(EXTRA_LANGUAGES_ENV, "").split(",") if x.strip()]
    return LANGUAGES + tuple(extra)


def headers(key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Cartesia-Version": checks.setting(VERSION_ENV, DEFAULT_VERSION),
    }


def _language(req: CloneRequest) -> str:
    return req.options.get("language") or checks.primary_language(req.language)


def validate(req: CloneRequest) -> None:
    checks.known_options(NAME, req, OPTIONS)
    checks.voice_name(SPEC, req.name)
    checks.file_count(NAME, "clip", req.files, exactly=1)
    checks.formats(NAME, "clip", req.files, FORMATS)
    checks.text(NAME, "description", req.description)
    checks.one_of(NAME, "language", _language(req), languages())
    checks.text(NAME, "base_voice_id", req.options.get("base_voice_id"))
    checks.boolean(NAME, "enhance", req.options.get("enhance"))


def _voice(body: dict[str, Any]) -> ClonedVoice:
    return ClonedVoice(
        provider=NAME,
        voice_id=str(body["id"]),
        name=str(body.get("name") or ""),
        preview_url=None,  # Cartesia returns no sample URL for clones
        raw=redact(body),
    )


def clone(client: Client, req: CloneRequest) -> ClonedVoice:
    fields = {
        "name": req.name,
        "description": req.description,
        "language": _language(req),
        "base_voice_id": req.options.get("base_voice_id"),
        "enhance": req.options.get("enhance"),
    }
    body = client.json(
        "POST",
        SPEC.create_path,
        data=checks.form(fields),
        files=[checks.file_part("clip", req.files[0])],
    )
    return _voice(body)


def list_voices(client: Client, search: str = "") -> list[ClonedVoice]:
    """The account's own voices, every page (no name search is documented: `search` is unused)."""
    found: list[ClonedVoice] = []
    params: dict[str, Any] = {"limit": PAGE_LIMIT, "is_owner": "true"}
    while True:
        body = client.json("GET", "/voices", params=params)
        data = body.get("data", [])
        found += [_voice(v) for v in data]
        cursor = body.get("next_page") or (data[-1].get("id") if data else None)
        if not body.get("has_more") or not cursor:
            return found
        params = {**params, "starting_after": cursor}


def find_by_name(client: Client, name: str) -> list[ClonedVoice] | None:
    return [v for v in list_voices(client, name) if v.name == name]


def delete(client: Client, voice_id: str) -> None:
    client.request("DELETE", f"/voices/{voice_id}")
