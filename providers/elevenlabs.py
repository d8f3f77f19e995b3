"""ElevenLabs Instant Voice Cloning: several files, labels as a JSON string."""

from __future__ import annotations

import json
from typing import Any

from . import checks
from .http import Client
from .redact import redact
from .registry import SPECS
from .types import ClonedVoice, CloneRequest, InvalidRequest, ProviderError

SPEC = SPECS["elevenlabs"]
NAME = SPEC.name

# The schema names the field "files"; the docs' curl sends "files[]".
FILES_FIELD_ENV = "ELEVENLABS_FILES_FIELD"
OPTIONS = ("remove_background_noise", "labels")
METADATA = ("labels",)  # options that describe the voice, not shape it (see registry)
LABEL_KEYS = ("language", "accent", "gender", "age")
PAGE_SIZE_MAX = 100


def headers(key: str) -> dict[str, str]:
    return {"xi-api-key": key}


def _labels(req: CloneRequest) -> dict[str, str]:
    labels = {"language": checks.primary_language(req.language)}
    if req.gender:
        labels["gender"] = req.gender
    labels.update(req.options.get("labels") or {})
    return labels


def validate(req: CloneRequest) -> None:
    checks.known_options(NAME, req, OPTIONS)
    checks.voice_name(SPEC, req.name)
    checks.file_count(NAME, "files", req.files)
    checks.text(NAME, "description", req.description)
    checks.boolean(NAME, "remove_background_noise", req.options.get("remove_background_noise"))
    labels = req.options.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise InvalidRequest(NAME, "labels", "must be a dict")
    for key, value in _labels(req).items():
        checks.one_of(NAME, "labels", key, LABEL_KEYS)
        checks.text(NAME, f"labels.{key}", value)


def _voice(body: dict[str, Any], name: str) -> ClonedVoice:
    return ClonedVoice(
        provider=NAME,
        voice_id=str(body["voice_id"]),
        name=str(body.get("name") or name),
        preview_url=body.get("preview_url"),
        raw=redact(body),
    )


def clone(client: Client, req: CloneRequest) -> ClonedVoice:
    fields = {
        "name": req.name,
        "description": req.description,
        "remove_background_noise": req.options.get("remove_background_noise"),
        "labels": json.dumps(_labels(req)),
    }
    field = checks.setting(FILES_FIELD_ENV, "files")
    body = client.json(
        "POST",
        SPEC.create_path,
        data=checks.form(fields),
        files=[checks.file_part(field, f) for f in req.files],
    )
    voice = _voice(body, req.name)
    try:  # the create answer has no preview_url; the voice record does
        return _voice(client.json("GET", f"/v1/voices/{voice.voice_id}"), req.name)
    except ProviderError:
        return voice


def list_voices(client: Client, search: str = "") -> list[ClonedVoice]:
    """The account's voices, every page; those matching `search` when given. ElevenLabs' own
    premade voices are left out: a voice named like one of them is not one voxclone made."""
    found: list[ClonedVoice] = []
    params: dict[str, Any] = {"page_size": PAGE_SIZE_MAX}
    if search:
        params["search"] = search
    while True:
        body = client.json("GET", "/v2/voices", params=params)
        found += [_voice(v, "") for v in body.get("voices", []) if v.get("category") != "premade"]
        token = body.get("next_page_token")
        if not body.get("has_more") or not token:
            return found
        params = {**params, "next_page_token": token}


def find_by_name(client: Client, name: str) -> list[ClonedVoice] | None:
    return [v for v in list_voices(client, name) if v.name == name]


def delete(client: Client, voice_id: str) -> None:
    client.request("DELETE", f"/v1/voices/{voice_id}")
