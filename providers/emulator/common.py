"""Helpers the six emulated APIs share: error bodies, form capture, ids, sample audio."""

from __future__ import annotations

import array
import datetime as dt
import io
import math
import uuid
import wave
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from .state import State


def error(provider: str, status: int, message: str, code: str | None = None) -> JSONResponse:
    """An error in the shape each provider documents (or, where undocumented, a plain one)."""
    body: Any
    if provider == "faseeh":
        body = {"errorCode": code or f"{status}01", "errorMessage": message}
    elif provider == "elevenlabs":
        body = {"detail": {"status": code or "error", "message": message}}
    elif provider == "cartesia":
        body = {
            "error_code": code or "error",
            "message": message,
            "title": message.split(":")[0],
            "request_id": str(uuid.uuid4()),
        }
    elif provider == "althea":
        body = {"detail": message}
    elif provider == "callers":
        body = {"statusCode": status, "message": message, "error": code or "Error"}
    else:
        body = {"message": message, "error": code or "Error", "statusCode": status}
    return JSONResponse(body, status_code=status)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


async def read_form(request: Request, state: State, provider: str) -> FormData:
    """Parse multipart and remember which fields arrived, so tests can check the wire."""
    form = await request.form(max_files=64, max_fields=256)
    fields: list[str] = []
    files: list[str] = []
    values: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.append(name)
        else:
            fields.append(name)
            values.setdefault(name, []).append(value)
    state.last_request[provider] = {
        "method": request.method,
        "path": request.url.path,
        "fields": fields,
        "files": files,
        "values": values,
        "headers": sorted(request.headers.keys()),
    }
    return form


def text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def uploads(form: FormData, *names: str) -> list[UploadFile]:
    return [v for n in names for v in form.getlist(n) if isinstance(v, UploadFile)]


def as_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return math.nan
    return number


def in_range(value: str | None, lo: float, hi: float) -> bool:
    number = as_float(value)
    return number is not None and not math.isnan(number) and lo <= number <= hi


def is_bool(value: str | None) -> bool:
    return value is None or value.lower() in ("true", "false")


def extension(upload: UploadFile) -> str:
    name = upload.filename or ""
    if "." in name:
        return name.rsplit(".", 1)[-1].lower()
    return (upload.content_type or "").split("/")[-1].split(";")[0].lower()


def sine_pcm(seconds: float = 0.5, freq: float = 220.0, rate: int = 24000) -> bytes:
    samples = array.array(
        "h",
        (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(seconds * rate))),
    )
    return samples.tobytes()


def wav(pcm: bytes, rate: int = 24000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buffer.getvalue()


def sample_url(request: Request, provider: str, voice_id: str) -> str:
    """Off the provider's prefix, as a real preview lives on a CDN: fetched without the key."""
    return (
        f"{request.url.scheme}://{request.url.netloc}/_emulator/samples/{provider}/{voice_id}.mp3"
    )


async def keep_upload(state: State, provider: str, voice_id: str, upload: UploadFile) -> None:
    """The voice's first file: its preview is made from it (emulator.speech)."""
    await upload.seek(0)
    state.uploads[f"{provider}/{voice_id}"] = await upload.read()


def page_of(items: list[Any], start: int, size: int) -> list[Any]:
    return items[start : start + size]
