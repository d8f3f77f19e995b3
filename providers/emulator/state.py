"""What the emulator remembers: voices per provider, request counts, armed faults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PREFIXES: dict[str, str] = {
    "anam": "/anam",
    "althea": "/althea/api",
    "faseeh": "/faseeh/api/v1",
    "callers": "/callers",
    "elevenlabs": "/elevenlabs",
    "cartesia": "/cartesia",
}
# Preview faults act on the audio of a new voice (a preview URL, Faseeh's preview), not the wire.
PREVIEW_FAULTS = (
    "preview-other", "preview-broken", "preview-html", "preview-redirect", "preview-internal",
    "preview-trickle",
)  # fmt: skip
FAULT_KINDS = (
    "400", "429", "500", "502", "503", "504", "delay", "drop", "malformed", "lost", *PREVIEW_FAULTS
)  # fmt: skip


@dataclass
class Fault:
    provider: str
    kind: str
    count: int = 1  # -1: every matching request
    delay_s: float = 1.0
    retry_after: float = 1
    path: str | None = None  # substring of the request path
    method: str | None = None

    def matches(self, provider: str, method: str, path: str) -> bool:
        return (
            self.provider == provider
            and (self.method is None or self.method.upper() == method)
            and (self.path is None or self.path in path)
        )


@dataclass
class State:
    keys: dict[str, str] | None = None
    voices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    last_request: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    previews: dict[str, str] = field(default_factory=dict)  # Faseeh: sha256(pcm) -> text
    uploads: dict[str, bytes] = field(default_factory=dict)  # "provider/voice_id" -> first file

    def reset(self) -> None:
        keys = self.keys
        self.__init__()  # type: ignore[misc]
        self.keys = keys

    def voices_of(self, provider: str) -> list[dict[str, Any]]:
        return self.voices.setdefault(provider, [])

    def key_ok(self, provider: str, presented: str | None) -> bool:
        if not presented or presented == "invalid":
            return False
        if self.keys is None or provider not in self.keys:
            return True
        return presented == self.keys[provider]

    def take_fault(
        self, provider: str, method: str, path: str, *, preview: bool = False
    ) -> Fault | None:
        """The next armed fault for this request: wire faults, or with `preview` the preview
        faults (each kind only ever consumed where it acts)."""
        for fault in self.faults:
            if (fault.kind in PREVIEW_FAULTS) != preview:
                continue
            if fault.count != 0 and fault.matches(provider, method, path):
                if fault.count > 0:
                    fault.count -= 1
                return fault
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "voices": {p: list(v) for p, v in self.voices.items()},
            "requests": dict(self.requests),
            "max_in_flight": dict(self.max_in_flight),
            "last_request": dict(self.last_request),
            "faults": [asdict(f) for f in self.faults if f.count != 0],
        }
