"""Emulated Faseeh: models, a preview that answers raw PCM16, and a clone that insists on it.

The clone accepts a `voice_file` only if it is a WAV whose samples are a preview this emulator
issued, and only with the same `text`, the way the docs describe the two-step flow.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import wave

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import common, speech
from .state import State

P = "faseeh"
PCM_TYPE = "audio/raw;codec=pcm16;rate=24000;channels=1"
MODELS = [
    {
        "id": "0b5a3f0e-3c1c-4a53-9d0f-3f8e8a7f2d11",
        "model_id": "faseeh-v1-preview",
        "model_name": "Faseeh v1 (preview)",
        "cost": 0.00003,
        "description": "Full-featured model with highest quality",
    },
    {
        "id": "6f1b7a52-58a4-4a7e-9e0b-6f0e9f3b7c22",
        "model_id": "faseeh-mini-v1-preview",
        "model_name": "Faseeh mini v1 (preview)",
        "cost": 0.00001,
        "description": "Faster, lighter model for low-latency applications",
    },
]
STOCK = [
    {"voice_id": "ar-najdi-male-2", "name": "Najdi male 2", "gender": "male", "age": "middle",
     "languages": ["ar"], "dialect": ["najdi"], "sample_url": None},
    {"voice_id": "ar-hijazi-female-1", "name": "Hijazi female 1", "gender": "female",
     "age": "middle", "languages": ["ar"], "dialect": ["hijazi"], "sample_url": None},
]  # fmt: skip


def _is_audio(upload: UploadFile) -> bool:
    return (upload.content_type or "").startswith("audio/") or common.extension(upload) in (
        "wav", "mp3", "flac", "ogg", "m4a", "webm", "opus",
    )  # fmt: skip


def routes(state: State) -> list[Route]:
    def auth(request: Request) -> Response | None:
        if state.key_ok(P, request.headers.get("x-api-key")):
            return None
        return common.error(P, 401, "Invalid or missing API key", "40101")

    def bad(message: str, code: str = "40001") -> Response:
        return common.error(P, 400, message, code)

    def model_known(model: str | None) -> bool:
        return any(m["model_id"] == model for m in MODELS)

    async def models(request: Request) -> Response:
        return auth(request) or JSONResponse(MODELS)

    async def preview(request: Request) -> Response:
        if denied := auth(request):
            return denied
        form = await common.read_form(request, state, P)
        text = common.text(form, "text")
        files = common.uploads(form, "file")
        if not text:
            return bad("text is required")
        if len(text.split()) < 3 or len(text) < 10:
            return bad("text must have at least 3 words and 10 characters")
        if not common.in_range(common.text(form, "similarity"), 0, 1):
            return bad("similarity must be a number between 0 and 1")
        speed = common.text(form, "speed")
        if speed is not None and not common.in_range(speed, 0.7, 1.2):
            return bad("speed must be a number between 0.7 and 1.2")
        model_id = common.text(form, "model_id")
        if not model_id:
            return bad("model_id is required")
        if not model_known(model_id):
            return common.error(P, 404, f"model {model_id} not found", "40401")
        if len(files) != 1 or not _is_audio(files[0]):
            return bad("file is required and must be of audio type")
        fault = state.take_fault(P, "POST", request.url.path, preview=True)
        upload = speech.other_speaker() if fault else await files[0].read()
        try:
            pcm = await asyncio.to_thread(speech.preview_pcm, upload)
        except RuntimeError:  # not audio ffmpeg can read: the old stand-in, a tone
            seed = hashlib.sha256(upload + text.encode()).digest()
            pcm = common.sine_pcm(0.5, 150 + random.Random(seed).random() * 200)
        state.previews[hashlib.sha256(pcm).hexdigest()] = text
        return Response(pcm, media_type=PCM_TYPE, headers={"Cache-Control": "no-cache"})

    async def clone(request: Request) -> Response:
        if denied := auth(request):
            return denied
        form = await common.read_form(request, state, P)
        for field in ("text", "stability", "name", "model"):
            if not common.text(form, field):
                return bad(f"{field} is required")
        voice_files = common.uploads(form, "voice_file")
        references = common.uploads(form, "reference_audio_file")
        if len(voice_files) != 1:
            return bad("voice_file is required")
        if len(references) != 1 or not _is_audio(references[0]):
            return bad("reference_audio_file is required and must be of audio type")
        if not common.in_range(common.text(form, "stability"), 0, 1):
            return bad("stability must be a number between 0 and 1")
        if not model_known(common.text(form, "model")):
            return bad(f"model {common.text(form, 'model')} not found")
        try:
            with wave.open(io.BytesIO(await voice_files[0].read())) as w:
                shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
                frames = w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            return bad("voice_file must be the audio generated by the preview API")
        issued_text = state.previews.get(hashlib.sha256(frames).hexdigest())
        if shape != (1, 2, 24000) or issued_text is None:
            return bad("voice_file must be the audio generated by the preview API")
        if issued_text != common.text(form, "text"):
            return bad("text must match the text used to generate the preview")

        def csv(name: str) -> list[str]:
            return [x.strip() for x in (common.text(form, name) or "").split(",") if x.strip()]

        voice_id = f"cl-{common.new_id()[:12]}"
        voice = {
            "id": common.new_id(),
            "voice_id": voice_id,
            "name": common.text(form, "name"),
            "description": common.text(form, "description"),
            "gender": common.text(form, "gender"),
            "age": common.text(form, "age"),
            "languages": csv("languages"),
            "dialect": csv("dialects"),
            "type": "cloned",
            "sample_url": common.sample_url(request, P, voice_id),
            "avatar_url": common.text(form, "avatar_url"),
            "stability": float(common.text(form, "stability") or 0),
        }
        state.voices_of(P).append(voice)
        await common.keep_upload(state, P, voice_id, references[0])
        return JSONResponse(voice)

    async def voices(request: Request) -> Response:
        return auth(request) or JSONResponse(STOCK + state.voices_of(P))

    return [
        Route("/models", models, methods=["GET"]),
        Route("/voices/preview", preview, methods=["POST"]),
        Route("/voices/clone", clone, methods=["POST"]),
        Route("/voices", voices, methods=["GET"]),
    ]
