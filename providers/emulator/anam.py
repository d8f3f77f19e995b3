"""Emulated Anam `/v1/voices`: create (multipart), list with search and pages, get, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import common
from .state import State

P = "anam"


def routes(state: State) -> list[Route]:
    def auth(request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        return None if state.key_ok(P, token) else common.error(P, 401, "Unauthorized")

    async def create(request: Request) -> Response:
        if denied := auth(request):
            return denied
        form = await common.read_form(request, state, P)
        name = common.text(form, "name")
        files = common.uploads(form, "audioFile")
        if not name or not name.strip():
            return common.error(P, 400, "Invalid voice data: name is required")
        if len(files) != 1:
            return common.error(P, 400, "Invalid voice data: exactly one audioFile is required")
        if not common.is_bool(common.text(form, "enhance")):
            return common.error(P, 400, "Invalid voice data: enhance must be a boolean")
        voice_id = common.new_id()
        sample = common.sample_url(request, P, voice_id)
        voice: dict[str, Any] = {
            "id": voice_id,
            "displayName": name,
            "provider": "ELEVENLABS",
            "providerVoiceId": voice_id.replace("-", "")[:20],
            "providerModelId": "eleven_flash_v2_5",
            "sampleUrl": sample,
            "previewSampleUrl": sample,
            "gender": None,
            "country": None,
            "description": common.text(form, "description"),
            "displayTags": [],
            "isZdr": False,
            "createdByOrganizationId": common.new_id(),
            "createdAt": common.now(),
            "updatedAt": common.now(),
            "language": common.text(form, "language") or "en",
        }
        state.voices_of(P).append(voice)
        await common.keep_upload(state, P, voice_id, files[0])
        return JSONResponse(voice, status_code=201)

    async def listing(request: Request) -> Response:
        if denied := auth(request):
            return denied
        q = request.query_params
        try:
            page, per_page = int(q.get("page", "1")), int(q.get("perPage", "10"))
        except ValueError:
            return common.error(P, 400, "page and perPage must be integers")
        if page < 1 or not 1 <= per_page <= 100:
            return common.error(P, 400, "page must be >= 1 and perPage between 1 and 100")
        search = (q.get("search") or "").lower()
        voices = [v for v in state.voices_of(P) if search in v["displayName"].lower()]
        last = max(1, -(-len(voices) // per_page))
        data = common.page_of(voices, (page - 1) * per_page, per_page)
        meta = {
            "total": len(voices),
            "lastPage": last,
            "currentPage": page,
            "perPage": per_page,
            "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < last else None,
        }
        return JSONResponse({"data": data, "meta": meta})

    def find(voice_id: str) -> dict[str, Any] | None:
        return next((v for v in state.voices_of(P) if v["id"] == voice_id), None)

    async def one(request: Request) -> Response:
        if denied := auth(request):
            return denied
        voice = find(request.path_params["id"])
        if voice is None:
            return common.error(P, 404, "Voice not found")
        if request.method == "DELETE":
            state.voices_of(P).remove(voice)
            return JSONResponse({"message": "Successfully deleted voice"})
        return JSONResponse(voice)

    return [
        Route("/v1/voices", create, methods=["POST"]),
        Route("/v1/voices", listing, methods=["GET"]),
        Route("/v1/voices/{id}", one, methods=["GET", "DELETE"]),
    ]
