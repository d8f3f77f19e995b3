"""Althea Studio, a white-label of Ultravox: one mp3/wav file per voice, names unique per account.

Only the create endpoint is on Althea's own docs; list and delete follow the Ultravox API it
mirrors (see NOTES.md).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from . import checks
from .http import Client
from .redact import redact
from .registry import SPECS
from .types import ClonedVoice, CloneRequest, InvalidRequest

SPEC = SPECS["althea"]
NAME = SPEC.name

OPTIONS = ("language",)
METADATA = ("language",)  # options that describe the voice, not shape it (see registry)
DESCRIPTION_MAX = 240
LANGUAGE_MAX = 10
PAGE_SIZE = 100
FILE_MAX_BYTES = 10 * 1024 * 1024  # Ultravox: "10MB file size maximum"
FORMATS = ("mp3", "wav", "mpeg", "x-wav", "wave")
BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def validate(req: CloneRequest) -> None:
    checks.known_options(NAME, req, OPTIONS)
    checks.voice_name(SPEC, req.name)
    checks.text(NAME, "description", req.description, max_len=DESCRIPTION_MAX)
    language = req.options.get("language", req.language)
    checks.text(NAME, "language", language, required=True, max_len=LANGUAGE_MAX)
    if not BCP47.match(language):
        raise InvalidRequest(NAME, "language", "must be a BCP 47 language tag")
    checks.file_count(NAME, "file", req.files, exactly=1)
    checks.formats(NAME, "file", req.files, FORMATS)
    checks.max_bytes(NAME, "file", req.files, FILE_MAX_BYTES)


def _voice(body: dict[str, Any]) -> ClonedVoice:
    return ClonedVoice(
        provider=NAME,
        voice_id=str(body["voiceId"]),
        name=str(body.get("name") or ""),
        preview_url=body.get("previewUrl"),
        raw=redact(body),
    )


def clone(client: Client, req: CloneRequest) -> ClonedVoice:
    fields = {
        "name": req.name,
        "description": req.description,
        "language": req.options.get("language", req.language),
    }
    body = client.json(
        "POST",
        SPEC.create_path,
        data=checks.form(fields),
        files=[checks.file_part("file", req.files[0])],
    )
    return _voice(body)


def _relative(next_url: str, base_url: str) -> str:
    """Ultravox `next` is an absolute URL; keep it on our base (an emulator or a proxy)."""
    parts = urlsplit(next_url)
    base_path = urlsplit(base_url).path.rstrip("/")
    path = parts.path[len(base_path) :] if parts.path.startswith(base_path) else parts.path
    return path + (f"?{parts.query}" if parts.query else "")


def list_voices(client: Client, search: str = "") -> list[ClonedVoice]:
    """The account's own voices, every page; those whose name contains `search` when given."""
    found: list[ClonedVoice] = []
    path: str | None = "/voices"
    first: dict[str, Any] = {"ownership": "private", "pageSize": PAGE_SIZE}
    if search:
        first["search"] = search
    params: dict[str, Any] | None = first
    while path:
        body = client.json("GET", path, params=params)
        found += [_voice(v) for v in body.get("results", [])]
        nxt = body.get("next")
        path, params = (_relative(nxt, client.base_url), None) if nxt else (None, None)
    return found


def find_by_name(client: Client, name: str) -> list[ClonedVoice] | None:
    return [v for v in list_voices(client, name) if v.name == name]


def delete(client: Client, voice_id: str) -> None:
    client.request("DELETE", f"/voices/{voice_id}")
