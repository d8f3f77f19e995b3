"""Drive a running emulator from Python: arm faults, read its state, reset it."""

from __future__ import annotations

from typing import Any

import httpx


def inject(url: str, provider: str, kind: str, **kw: Any) -> dict[str, Any]:
    """kind: 400 | 429 | 503 (before the handler) | 500 | 502 | 504 (after it: a create stores its
    voice) | delay | drop | malformed | lost | preview-*; kw: count, delay_s, retry_after, path,
    method."""
    response = httpx.post(
        f"{url}/_emulator/faults", json={"provider": provider, "kind": kind, **kw}
    )
    response.raise_for_status()
    fault: dict[str, Any] = response.json()
    return fault


def clear_faults(url: str) -> None:
    httpx.delete(f"{url}/_emulator/faults").raise_for_status()


def state(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/_emulator/state")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def reset(url: str) -> None:
    httpx.post(f"{url}/_emulator/reset").raise_for_status()
