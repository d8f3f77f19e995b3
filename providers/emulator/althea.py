"""Emulated Althea Studio (Ultravox-shaped): 201 on create, unique names, cursor pages."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import common
from .state import State

P = "althea"
BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_BYTES = 10 * 1024 * 1024


def routes(state: State) -> list[Route]:
    def auth(request: Request) -> Response | None:
        ok = state.key_ok(P, request.headers.get("x-api-key"))
        return None if ok else common.error(P, 401, "Invalid API key.")

    def bad(field: str, message: str) -> Response:
        return JSONResponse({field: [message]}, status_code=400)

    async def create(request: Request) -> Response:
        if denied := auth(request):
            return denied
        form = await common.read_form(request, state, P)
        name = common.text(form, "name")
        description = common.text(form, "description")
        language = common.text(form, "language") or "en"
        files = common.uploads(form, "file")
        if not files:
            return bad("file", "This field is required.")
        if len(files) > 1:
            return bad("file", "Maximum of one audio file per voice.")
        if common.extension(files[0]) not in ("mp3", "wav", "mpeg", "x-wav", "wave"):
            return bad("file", "The audio file must be in .mp3 or .wav format.")
        if len(await files[0].read()) > MAX_BYTES:
            return bad("file", "10MB file size maximum.")
        if not name or not name.strip():
            return bad("name", "This field is required.")
        if len(name) > 40:
            return bad("name", "Ensure this field has no more than 40 characters.")
        if any(v["name"] == name for v in state.voices_of(P)):
            return bad("name", "Must be unique within your account.")
        if description and len(description) > 240:
            return bad("description", "Ensure this field has no more than 240 characters.")
        if len(language) > 10 or not BCP47.match(language):
            return bad("language", "Must be a BCP47 language code.")
        voice_id = common.new_id()
        voice = {
            "voiceId": voice_id,
            "name": name,
            "languageLabel": language,
            "previewUrl": common.sample_url(request, P, voice_id),
            "ownership": "private",
            "billingStyle": "VOICE_BILLING_STYLE_INCLUDED",
            "provider": "eleven_labs",
            "definition": {"elevenLabs": {"voiceId": voice_id.replace("-", "")[:20]}},
            "description": description or f"Voice cloned on {common.now()[:10]}",
            "primaryLanguage": language,
        }
        state.voices_of(P).append(voice)
        await common.keep_upload(state, P, voice_id, files[0])
        return JSONResponse(voice, status_code=201)

    async def listing(request: Request) -> Response:
        if denied := auth(request):
            return denied
        q = request.query_params
        try:
            cursor, size = int(q.get("cursor", "0")), int(q.get("pageSize", "100"))
        except ValueError:
            return bad("cursor", "Invalid cursor.")
        search = (q.get("search") or "").lower()
        voices = [v for v in state.voices_of(P) if search in v["name"].lower()]
        page = common.page_of(voices, cursor, size)
        params = {k: v for k, v in q.items() if k != "cursor"}

        def link(at: int) -> str:
            query = urlencode({**params, "cursor": at})
            return str(request.url.replace(query=query))

        return JSONResponse(
            {
                "next": link(cursor + size) if cursor + size < len(voices) else None,
                "previous": link(max(0, cursor - size)) if cursor > 0 else None,
                "results": page,
                "total": len(voices),
            }
        )

    async def one(request: Request) -> Response:
        if denied := auth(request):
            return denied
        voice_id = request.path_params["id"]
        voice = next((v for v in state.voices_of(P) if v["voiceId"] == voice_id), None)
        if voice is None:
            return common.error(P, 404, "Not found.")
        if request.method == "DELETE":
            state.voices_of(P).remove(voice)
            return Response(status_code=204)
        return JSONResponse(voice)

    return [
        Route("/voices", create, methods=["POST"]),
        Route("/voices", listing, methods=["GET"]),
        Route("/voices/{id}", one, methods=["GET", "DELETE"]),
    ]
