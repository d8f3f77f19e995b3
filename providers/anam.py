"""Anam: one audio file per voice, `POST /v1/voices`; voices are listed with a name search."""

from __future__ import annotations

from typing import Any

from . import checks
from .http import Client
from .redact import redact
from .registry import SPECS
from .types import ClonedVoice, CloneRequest

SPEC = SPECS["anam"]
NAME = SPEC.name

OPTIONS = ("enhance", "language")
METADATA = ("language",)  # options that describe the voice, not shape it (see registry)
PER_PAGE_MAX = 100


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def validate(req: CloneRequest) -> None:
    checks.known_options(NAME, req, OPTIONS)
    checks.voice_name(SPEC, req.name)
    checks.file_count(NAME, "audioFile", req.files, exactly=1)
    checks.text(NAME, "description", req.description)
    checks.text(NAME, "language", req.options.get("language", req.language), required=True)
    checks.boolean(NAME, "enhance", req.options.get("enhance"))


def _voice(body: dict[str, Any]) -> ClonedVoice:
    return ClonedVoice(
        provider=NAME,
        voice_id=str(body["id"]),
        name=str(body.get("displayName") or ""),
        preview_url=body.get("sampleUrl") or body.get("previewSampleUrl"),
        raw=redact(body),
    )


def clone(client: Client, req: CloneRequest) -> ClonedVoice:
    fields = {
        "name": req.name,
        "description": req.description,
        "language": req.options.get("language") or checks.primary_language(req.language),
        "enhance": req.options.get("enhance", True),
    }
    body = client.json(
        "POST",
        SPEC.create_path,
        data=checks.form(fields),
        files=[checks.file_part("audioFile", req.files[0])],
    )
    return _voice(body)


def list_voices(client: Client, search: str = "") -> list[ClonedVoice]:
    """The account's voices, every page; those whose name contains `search` when given."""
    found: list[ClonedVoice] = []
    page = 1
    while True:
        params: dict[str, Any] = {"page": page, "perPage": PER_PAGE_MAX}
        if search:
            params["search"] = search
        body = client.json("GET", "/v1/voices", params=params)
        found += [_voice(v) for v in body.get("data", [])]
        meta = body.get("meta") or {}
        if not meta.get("next") or page >= int(meta.get("lastPage") or page):
            return found
        page += 1


def find_by_name(client: Client, name: str) -> list[ClonedVoice] | None:
    return [v for v in list_voices(client, name) if v.name == name]


def delete(client: Client, voice_id: str) -> None:
    client.request("DELETE", f"/v1/voices/{voice_id}")
