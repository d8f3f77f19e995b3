"""Faseeh: a clone is two calls, a preview (raw PCM back) and then the clone proper.

The preview's PCM16/24 kHz/mono bytes go back as `voice_file`, wrapped in a WAV header, with the
original recording as `reference_audio_file` and the same `text`.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from typing import Any

from . import checks
from .http import Client
from .redact import redact
from .registry import SPECS
from .types import ClonedVoice, CloneRequest, InvalidRequest, OutcomeUnknown, ProviderError

SPEC = SPECS["faseeh"]
NAME = SPEC.name

# Undocumented preview path; "/voices/preview" by analogy with "/voices/clone".
PREVIEW_PATH_ENV = "FASEEH_PREVIEW_PATH"
DEFAULT_PREVIEW_PATH = "/voices/preview"
# How the preview PCM is sent back as voice_file: "wav" (header added) or "raw" (as received).
VOICE_FILE_CONTAINER_ENV = "FASEEH_VOICE_FILE_CONTAINER"
DEFAULT_MODEL = "faseeh-v1-preview"
PREVIEW_RATE = 24000

OPTIONS = (
    "text",
    "similarity",
    "model",
    "model_id",
    "speed",
    "stability",
    "age",
    "languages",
    "dialects",
    "avatar_url",
    "gender",
)
# Options that describe the voice, not shape it (see registry.ClientModule.METADATA).
METADATA = ("age", "languages", "dialects", "avatar_url", "gender")
DEFAULT_TEXT = {
    "ar": "مرحبا، هذا مثال قصير على صوتي المستنسخ.",
    "en": "Hello, this is a short preview of my cloned voice.",
}
DEFAULT_SIMILARITY = 0.75
DEFAULT_STABILITY = 0.5


def headers(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def _model(req: CloneRequest) -> str:
    return req.options.get("model") or req.options.get("model_id") or DEFAULT_MODEL


def _text(req: CloneRequest) -> str:
    lang = checks.primary_language(req.language)
    return req.options.get("text") or DEFAULT_TEXT.get(lang, DEFAULT_TEXT["en"])


def _csv(value: Any) -> str | None:
    if value is None:
        return None
    return ",".join(value) if isinstance(value, list | tuple) else str(value)


def validate(req: CloneRequest) -> None:
    o = req.options
    checks.known_options(NAME, req, OPTIONS)
    checks.voice_name(SPEC, req.name)
    checks.file_count(NAME, "reference_audio_file", req.files, exactly=1)
    text = _text(req)
    checks.text(NAME, "text", text, required=True, min_len=10)
    if len(text.split()) < 3:
        raise InvalidRequest(NAME, "text", "must have at least 3 words")
    checks.number(NAME, "similarity", o.get("similarity", DEFAULT_SIMILARITY), 0, 1)
    checks.number(NAME, "speed", o.get("speed"), 0.7, 1.2)
    checks.number(NAME, "stability", o.get("stability", DEFAULT_STABILITY), 0, 1)
    if o.get("model") and o.get("model_id") and o["model"] != o["model_id"]:
        raise InvalidRequest(NAME, "model", "model (clone) and model_id (preview) must match")
    checks.text(NAME, "model", _model(req), required=True)
    for field in ("age", "avatar_url", "gender"):
        checks.text(NAME, field, o.get(field))
    checks.text(NAME, "description", req.description)
    for field in ("languages", "dialects"):
        value = o.get(field)
        if value is not None and not (
            isinstance(value, str)
            or (isinstance(value, list | tuple) and all(isinstance(v, str) for v in value))
        ):
            raise InvalidRequest(
                NAME, field, "must be a comma-separated string or a list of strings"
            )


def models(client: Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.json("GET", "/models")
    return found


def check_model(client: Client, model: str) -> None:
    """The model list is documented and account-specific, so ask rather than hard-code it."""
    available = [m.get("model_id") for m in models(client) if isinstance(m, dict)]
    if model not in available:
        raise InvalidRequest(NAME, "model", f"{model!r} is not offered; available: {available}")


def preview(client: Client, req: CloneRequest) -> bytes:
    """Raw PCM16 24 kHz mono of `text` in the cloned voice. It creates no voice but may be billed
    (it can answer 402), so like a create it is sent again only when it was not acted on; a lost
    answer fails the clone (nothing was created: a rerun makes a new preview)."""
    o = req.options
    fields = {
        "text": _text(req),
        "similarity": o.get("similarity", DEFAULT_SIMILARITY),
        "model_id": _model(req),
        "speed": o.get("speed"),
    }
    try:
        response = client.request(
            "POST",
            checks.setting(PREVIEW_PATH_ENV, DEFAULT_PREVIEW_PATH),
            data=checks.form(fields),
            files=[checks.file_part("file", req.files[0])],
            idempotent=False,
        )
    except OutcomeUnknown as lost:
        raise ProviderError(
            NAME,
            f"the preview's answer was lost ({lost.message}); no voice was created, and a "
            "rerun makes a new preview",
            status=lost.status,
            code=lost.code,
            attempts=lost.attempts,
        ) from lost
    kind = response.headers.get("content-type", "")
    if not kind.startswith("audio/") or not response.content:
        raise ProviderError(NAME, f"preview answered {kind or 'no content type'}, not audio")
    return response.content


def pcm_to_wav(pcm: bytes, rate: int = PREVIEW_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm[: len(pcm) // 2 * 2])
    return buffer.getvalue()


def _voice(body: dict[str, Any]) -> ClonedVoice:
    return ClonedVoice(
        provider=NAME,
        voice_id=str(body.get("voice_id") or body["id"]),
        name=str(body.get("name") or ""),
        preview_url=body.get("sample_url"),
        raw=redact(body),
    )


def clone(
    client: Client, req: CloneRequest, *, on_preview: Callable[[bytes], None] | None = None
) -> ClonedVoice:
    """Preview, then clone. `on_preview` hears the preview (as WAV) before the clone call and
    may stop it by raising: the clone check's `gate`."""
    o = req.options
    check_model(client, _model(req))
    pcm = preview(client, req)
    if on_preview is not None:
        on_preview(pcm_to_wav(pcm))
    if checks.setting(VOICE_FILE_CONTAINER_ENV, "wav") == "raw":
        voice_file = ("preview.pcm", pcm, "audio/raw;codec=pcm16;rate=24000;channels=1")
    else:
        voice_file = ("preview.wav", pcm_to_wav(pcm), "audio/wav")
    reference = req.files[0]
    fields = {
        "text": _text(req),
        "stability": o.get("stability", DEFAULT_STABILITY),
        "name": req.name,
        "model": _model(req),
        "description": req.description,
        "gender": o.get("gender", req.gender),
        "age": o.get("age"),
        "languages": _csv(o.get("languages", checks.primary_language(req.language))),
        "dialects": _csv(o.get("dialects")),
        "avatar_url": o.get("avatar_url"),
    }
    body = client.json(
        "POST",
        SPEC.create_path,
        data=checks.form(fields),
        files=[("voice_file", voice_file), checks.file_part("reference_audio_file", reference)],
    )
    return _voice(body)


def list_voices(client: Client, search: str = "") -> list[ClonedVoice]:
    """`GET /voices` is known only from third-party code: a JSON array, no pagination, no search."""
    body = client.json("GET", "/voices")
    voices = body if isinstance(body, list) else body.get("voices") or body.get("data") or []
    return [_voice(v) for v in voices if isinstance(v, dict)]


def find_by_name(client: Client, name: str) -> list[ClonedVoice] | None:
    return [v for v in list_voices(client, name) if v.name == name]


def delete(client: Client, voice_id: str) -> None:
    raise ProviderError(NAME, "Faseeh documents no endpoint to delete a voice", code="unsupported")
