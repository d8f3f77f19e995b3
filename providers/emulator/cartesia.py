"""Emulated Cartesia: `Cartesia-Version` required, `/voices/clone`, cursor-paged `/voices`."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..cartesia import FORMATS, languages
from . import common
from .state import State

P = "cartesia"
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def routes(state: State) -> list[Route]:
    def guard(request: Request) -> Response | None:
        version = request.headers.get("cartesia-version")
        if not version or not VERSION.match(version):
            return common.error(
                P, 400, "Cartesia-Version header is required (YYYY-MM-DD)", "invalid_version"
            )
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        if not state.key_ok(P, token):
            return common.error(P, 401, "Unauthorized: invalid API key", "unauthorized")
        return None

    def bad(message: str) -> Response:
        return common.error(P, 400, f"Bad request: {message}", "invalid_request")

    async def clone(request: Request) -> Response:
        if denied := guard(request):
            return denied
        form = await common.read_form(request, state, P)
        clips = common.uploads(form, "clip")
        name = common.text(form, "name")
        language = common.text(form, "language")
        if len(clips) != 1:
            return bad("clip is required (one audio file)")
        if common.extension(clips[0]) not in FORMATS:
            return bad(f"clip format must be one of {', '.join(FORMATS)}")
        if not name:
            return bad("name is required")
        if not language:
            return bad("language is required")
        if language not in languages():
            return bad(f"language must be one of {', '.join(languages())}")
        if not common.is_bool(common.text(form, "enhance")):
            return bad("enhance must be a boolean")
        voice = {
            "id": common.new_id(),
            "user_id": "user_emulated",
            "is_public": False,
            "name": name,
            "description": common.text(form, "description") or "",
            "created_at": common.now(),
            "language": language,
        }
        state.voices_of(P).append(voice)
        return JSONResponse(voice)

    async def listing(request: Request) -> Response:
        if denied := guard(request):
            return denied
        q = request.query_params
        limit = int(q.get("limit", "10"))
        if not 1 <= limit <= 100:
            return bad("limit must be between 1 and 100")
        voices = state.voices_of(P)
        start = 0
        if after := q.get("starting_after"):
            ids = [v["id"] for v in voices]
            if after not in ids:
                return bad("starting_after is not a known voice id")
            start = ids.index(after) + 1
        page = common.page_of(voices, start, limit)
        more = start + limit < len(voices)
        return JSONResponse(
            {"data": page, "has_more": more, "next_page": page[-1]["id"] if more else None}
        )

    async def one(request: Request) -> Response:
        if denied := guard(request):
            return denied
        voice = next((v for v in state.voices_of(P) if v["id"] == request.path_params["id"]), None)
        if voice is None:
            return common.error(P, 404, "Not found: voice does not exist", "not_found")
        if request.method == "DELETE":
            state.voices_of(P).remove(voice)
            return Response(status_code=204)
        return JSONResponse(voice)

    return [
        Route("/voices/clone", clone, methods=["POST"]),
        Route("/voices", listing, methods=["GET"]),
        Route("/voices/{id}", one, methods=["GET", "DELETE"]),
    ]
