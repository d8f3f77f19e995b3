"""Shared test data for the provider tests: the key, valid requests, where creates go."""

from __future__ import annotations

import io
import wave
from typing import Any

from providers.registry import SPECS
from providers.types import AudioFile, CloneRequest

KEY = "sk-test-SECRET-123"

# Where each provider's create request goes, relative to its base URL (for fault filters).
CREATE_PATH = {s.name: s.create_path for s in SPECS.values()}
CAN_LIST = tuple(s.name for s in SPECS.values() if s.can_list)


def wav_bytes(seconds: float = 0.2, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x10\x00\xf0\xff" * int(seconds * rate / 2))
    return buffer.getvalue()


def audio(name: str = "take.wav", data: bytes | None = None) -> AudioFile:
    return AudioFile(name, data if data is not None else wav_bytes())


def request(provider: str, **changes: Any) -> CloneRequest:
    """A valid minimal request for `provider`; `changes` replace fields."""
    files = (
        (audio("a.wav"), audio("b.wav")) if provider in ("callers", "elevenlabs") else (audio(),)
    )
    fields: dict[str, Any] = {
        "name": f"Voice {provider}",
        "files": files,
        "language": "en-US",
    }
    fields.update(changes)
    return CloneRequest(**fields)


class Sleeps(list):
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
