"""Emulated ElevenLabs IVC: `/v1/voices/add`, `/v2/voices` search pages, get and delete."""

from __future__ import annotations

import json
import secrets
import string
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import common
from .state import State

P = "elevenlabs"
LABEL_KEYS = ("language", "accent", "gender", "age")
ALPHABET = string.ascii_letters + string.digits


def voice_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(20))


def unprocessable(loc: list[str], msg: str, kind: str) -> Response:
    return JSONResponse({"detail": [{"loc": ["body", *loc], "msg": msg, "type": kind}]}, 422)


def routes(state: State) -> list[Route]:
    def auth(request: Request) -> Response | None:
        if state.key_ok(P, request.headers.get("xi-api-key")):
            return None
        return common.error(P, 401, "Invalid API key", "invalid_api_key")

    async def add(request: Request) -> Response:
        if denied := auth(request):
            return denied
        form = await common.read_form(request, state, P)
        name = common.text(form, "name")
        files = common.uploads(form, "files", "files[]")
        if not name:
            return unprocessable(["name"], "Field required", "missing")
        if not files:
            return unprocessable(["files"], "Field required", "missing")
        if not common.is_bool(common.text(form, "remove_background_noise")):
            return unprocessable(
                ["remove_background_noise"], "Input should be a valid boolean", "bool_parsing"
            )
        labels_text = common.text(form, "labels")
        labels: dict[str, Any] = {}
        if labels_text:
            try:
                labels = json.loads(labels_text)
            except ValueError:
                labels = None  # type: ignore[assignment]
            if not isinstance(labels, dict) or any(k not in LABEL_KEYS for k in labels):
                return unprocessable(
                    ["labels"], f"labels must be a JSON object with keys {LABEL_KEYS}", "value"
                )
        vid = voice_id()
        voice = {
            "voice_id": vid,
            "name": name,
            "category": "cloned",
            "description": common.text(form, "description"),
            "labels": labels,
            "preview_url": common.sample_url(request, P, vid),
            "samples": [{"sample_id": voice_id(), "file_name": f.filename} for f in files],
            "created_at_unix": int(time.time()),
        }
        state.voices_of(P).append(voice)
        await common.keep_upload(state, P, vid, files[0])
        return JSONResponse({"voice_id": vid, "requires_verification": False})

    async def search(request: Request) -> Response:
        if denied := auth(request):
            return denied
        q = request.query_params
        size = int(q.get("page_size", "10"))
        if not 1 <= size <= 100:
            return unprocessable(["page_size"], "must be between 1 and 100", "value")
        term = (q.get("search") or "").lower()
        voices = [v for v in state.voices_of(P) if term in v["name"].lower()]
        start = int(q.get("next_page_token") or 0)
        page = common.page_of(voices, start, size)
        more = start + size < len(voices)
        return JSONResponse(
            {
                "voices": page,
                "has_more": more,
                "total_count": len(voices),
                "next_page_token": str(start + size) if more else None,
            }
        )

    async def one(request: Request) -> Response:
        if denied := auth(request):
            return denied
        vid = request.path_params["id"]
        voice = next((v for v in state.voices_of(P) if v["voice_id"] == vid), None)
        if voice is None:
            return common.error(P, 404, f"A voice with the voice_id {vid} was not found.",
                                "voice_not_found")  # fmt: skip
        if request.method == "DELETE":
            state.voices_of(P).remove(voice)
            return JSONResponse({"status": "ok"})
        return JSONResponse(voice)

    return [
        Route("/v1/voices/add", add, methods=["POST"]),
        Route("/v2/voices", search, methods=["GET"]),
        Route("/v1/voices/{id}", one, methods=["GET", "DELETE"]),
    ]
